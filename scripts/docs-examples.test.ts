/**
 * The examples people copy stay valid: the complete aspect.json and the script steps of
 * docs/home-folder.md, and every home of the shipped team in agents/ (checked as `nexus dev`
 * checks them, aspect.json and script.json).
 */
import { readFile } from 'node:fs/promises';
import { AspectConfig, Script, firstIssueText } from '../protocol/index.js';
import { discoverTeam } from '../cli/dev/team.js';

const jsonBlocks = (markdown: string) =>
  [...markdown.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1] as string) as unknown);

describe('examples in the docs and agents/', () => {
  it("docs/home-folder.md's complete aspect.json and script steps pass the schemas", async () => {
    const [config, ...steps] = jsonBlocks(await readFile('docs/home-folder.md', 'utf8'));
    const parsed = AspectConfig.safeParse(config);
    expect(parsed.success ? 'valid' : firstIssueText(parsed.error)).toBe('valid');
    expect(steps.length).toBeGreaterThan(0);
    for (const step of steps) {
      const script = Script.safeParse([step]);
      expect(script.success ? 'valid' : firstIssueText(script.error)).toBe('valid');
    }
  });

  it('agents/ holds a frame without admin overrides, two more aspects and a Hand', async () => {
    const team = await discoverTeam('agents');
    expect(team.map((m) => m.name)).toEqual(['frame', 'researcher', 'writer']);
    const frame = team.find((m) => m.config.role === 'frame');
    expect(frame?.config.tools).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^(abort_dispatch|shutdown_aspect|revoke_tokens)$/)]),
    );
    expect(team.flatMap((m) => m.config.hands.map((h) => `${m.name}/${h.name}`))).toEqual([
      'writer/summarise',
    ]);
    for (const member of team) expect(member.config.provider.offline).toEqual({ kind: 'scripted' });
  });
});
