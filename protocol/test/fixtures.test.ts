/**
 * The fixture corpus (STYLE rule 7): `fixtures/<Shape>/<case>.json` holds `{"input": …}` for a valid
 * case and `{"input": …, "error": "path: rule"}` for an `invalid-*` one. Every valid case parses with
 * the schema of that name exported from protocol/; every invalid one fails with exactly the first-issue
 * text it pins, and that text names the field.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import * as protocol from '../index.js';
import { firstIssueText } from '../index.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The shapes with a corpus; each directory must be one of them, and each of them must have a directory. */
const SHAPES: Record<string, z.ZodType> = {
  SendRequest: protocol.SendRequest,
  RegisterRequest: protocol.RegisterRequest,
  HeartbeatRequest: protocol.HeartbeatRequest,
  AspectConfig: protocol.AspectConfig,
  MintTokenRequest: protocol.MintTokenRequest,
  ClientFrame: protocol.ClientFrame,
  AlarmRequest: protocol.AlarmRequest,
  ExpectedRosterRequest: protocol.ExpectedRosterRequest,
  StoreKnowledgeRequest: protocol.StoreKnowledgeRequest,
  KnowledgeSearchRequest: protocol.KnowledgeSearchRequest,
};

interface Fixture {
  input: unknown;
  error?: string;
}

const shapeDirs = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();
const cases = shapeDirs.flatMap((shape) =>
  readdirSync(path.join(FIXTURES, shape))
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const fixture = JSON.parse(readFileSync(path.join(FIXTURES, shape, file), 'utf8')) as Fixture;
      return { shape, name: file.replace(/\.json$/, ''), fixture };
    }),
);

/** A field path as `formatPath` writes it (or `(root)`), then ": " and the rule. */
const NAMES_A_FIELD =
  /^(\(root\)|(?:[A-Za-z_$][A-Za-z0-9_$-]*|\["(?:[^"\\]|\\.)*"\])(?:\.[A-Za-z_$][A-Za-z0-9_$-]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*): \S/;

describe('protocol fixture corpus', () => {
  it('has a directory for each shape and no other, each with valid and invalid cases', () => {
    expect(shapeDirs).toEqual(Object.keys(SHAPES).sort());
    for (const shape of shapeDirs) {
      const names = cases.filter((c) => c.shape === shape).map((c) => c.name);
      expect({ shape, valid: names.some((n) => n.startsWith('valid-')) }).toEqual({ shape, valid: true });
      expect({ shape, invalid: names.some((n) => n.startsWith('invalid-')) }).toEqual({
        shape,
        invalid: true,
      });
    }
  });

  it('names every case valid-* or invalid-*, and pins an error exactly for the invalid ones', () => {
    for (const { shape, name, fixture } of cases) {
      expect({ case: `${shape}/${name}`, named: /^(valid|invalid)-[a-z0-9-]+$/.test(name) }).toEqual({
        case: `${shape}/${name}`,
        named: true,
      });
      expect({ case: `${shape}/${name}`, pinsError: typeof fixture.error === 'string' }).toEqual({
        case: `${shape}/${name}`,
        pinsError: name.startsWith('invalid-'),
      });
    }
  });

  it.each(cases.filter((c) => c.name.startsWith('valid-')).map((c) => [`${c.shape}/${c.name}`, c] as const))(
    '%s parses',
    (_label, { shape, fixture }) => {
      const result = (SHAPES[shape] as z.ZodType).safeParse(fixture.input);
      expect(result.success ? 'parses' : firstIssueText(result.error)).toBe('parses');
    },
  );

  it.each(
    cases.filter((c) => c.name.startsWith('invalid-')).map((c) => [`${c.shape}/${c.name}`, c] as const),
  )('%s is refused with the pinned error, naming the field', (_label, { shape, fixture }) => {
    const result = (SHAPES[shape] as z.ZodType).safeParse(fixture.input);
    expect(result.success).toBe(false);
    if (!result.success) expect(firstIssueText(result.error)).toBe(fixture.error);
    expect(fixture.error).toMatch(NAMES_A_FIELD);
  });
});
