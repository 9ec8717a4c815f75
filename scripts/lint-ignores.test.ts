/**
 * A home folder inside the repository (`homes/NAME`, as the README suggests) and the data folder of
 * `nexus dev` (`.nexus/`) hold the user's files, not ours: `npm test`'s lint (ESLint, then
 * `prettier --check .`) must pass over them whatever they hold (issue 10).
 */
import { ESLint } from 'eslint';
import { getFileInfo } from 'prettier';

const USER_FILES = [
  'homes/wren/aspect.json',
  'homes/wren/SOUL.md',
  'homes/wren/session/global.jsonl',
  'homes/wren/tools/helper.mjs',
  'homes/wren/notes.ts',
  '.nexus/admin-token',
  '.nexus/pg/postgresql.conf',
  '.nexus/agents/scratch.js',
];

describe('lint ignores user folders', () => {
  it('ESLint ignores homes/ and .nexus/', async () => {
    const eslint = new ESLint();
    const linted: string[] = [];
    for (const file of USER_FILES) if (!(await eslint.isPathIgnored(file))) linted.push(file);
    expect(linted).toEqual([]);
    // Ours is still linted.
    expect(await eslint.isPathIgnored('cli/main.ts')).toBe(false);
  });

  it('Prettier ignores homes/ and .nexus/', async () => {
    const checked: string[] = [];
    for (const file of USER_FILES)
      if (!(await getFileInfo(file, { ignorePath: '.prettierignore' })).ignored) checked.push(file);
    expect(checked).toEqual([]);
    expect((await getFileInfo('README.md', { ignorePath: '.prettierignore' })).ignored).toBe(false);
  });
});
