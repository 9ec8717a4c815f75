import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generatedSchemas } from './json-schema.js';

describe('generated JSON Schemas', () => {
  it.each(Object.entries(generatedSchemas()))(
    'docs/generated/%s matches the zod schema it comes from',
    (file, text) => {
      const committed = readFileSync(path.join('docs/generated', file), 'utf8');
      expect(committed).toBe(text); // run `npm run generate` after changing protocol/
    },
  );
});
