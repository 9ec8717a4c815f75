/**
 * A home folder inside the repository (`homes/`) or the data of `nexus dev` (`.nexus/`) is the
 * user's, not source: `npm test`'s lint (ESLint, Prettier) and git leave them alone (issue 10's
 * first hour: a home made where the README suggested broke the lint).
 */
import { execFileSync } from 'node:child_process';
import { ESLint } from 'eslint';
import prettier from 'prettier';

const USER_FILES = [
  'homes/helper/aspect.json',
  'homes/helper/session/global.jsonl',
  'homes/helper/tool.ts',
  '.nexus/homes/frame/aspect.json',
  '.nexus/homes/frame/notes.ts',
  '.nexus/admin-token',
  '.nexus/pg/postgresql.conf',
];

describe('files of homes and of nexus dev', () => {
  it('are ignored by ESLint', async () => {
    const eslint = new ESLint();
    for (const file of USER_FILES) expect([file, await eslint.isPathIgnored(file)]).toEqual([file, true]);
    expect(await eslint.isPathIgnored('cli/main.ts')).toBe(false); // ours is still linted
  });

  it('are ignored by Prettier', async () => {
    for (const file of USER_FILES) {
      const info = await prettier.getFileInfo(file, { ignorePath: '.prettierignore' });
      expect([file, info.ignored]).toEqual([file, true]);
    }
  });

  it('are ignored by git', () => {
    for (const file of USER_FILES)
      expect(() => execFileSync('git', ['check-ignore', '--quiet', '--no-index', file])).not.toThrow();
  });
});
