import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadMigrations } from './migrate.js';

describe('loadMigrations', () => {
  it('reads NNNN_name.sql files in version order', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'nexus-migrations-'));
    await writeFile(path.join(dir, '0002_second.sql'), 'SELECT 2;');
    await writeFile(path.join(dir, '0001_first.sql'), 'SELECT 1;');
    await writeFile(path.join(dir, 'README.md'), 'not a migration');
    expect((await loadMigrations(dir)).map((m) => [m.version, m.name])).toEqual([
      [1, 'first'],
      [2, 'second'],
    ]);
  });

  it('refuses two files of one version, which would leave one of them silently unapplied', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'nexus-migrations-'));
    await writeFile(path.join(dir, '0019_one.sql'), 'SELECT 1;');
    await writeFile(path.join(dir, '0019_other.sql'), 'SELECT 2;');
    await expect(loadMigrations(dir)).rejects.toThrow(
      'migrations 0019_one.sql and 0019_other.sql have the same version',
    );
  });
});
