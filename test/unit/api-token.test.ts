import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveApiToken } from '../../src/cli/api-token.js';

describe('where the CLI takes the API token of a running agent from (issue 19, section 6)', () => {
  let dir: string;
  let file: string;
  const fromFile = 'file-Vq8xN2rL5tKp9wZc';
  const fromEnv = 'env-Hs4mB7yQ1dFj6uXe';
  const fromList = 'list-Gt3nW8kP2cRz5vYa';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-api-token-'));
    file = path.join(dir, 'token');
    await writeFile(file, `${fromFile}\n`);
    await chmod(file, 0o600);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('takes --token, else --token-file, else CREDFLOW_TOKEN, else the first of CREDFLOW_API_TOKENS', async () => {
    const env = { CREDFLOW_TOKEN: fromEnv, CREDFLOW_API_TOKENS: ` ${fromList} , other-token-0123456789` };
    expect(await resolveApiToken({ token: 'flag-Lm9cT4wX7bNq2sRe', tokenFile: file }, env)).toBe(
      'flag-Lm9cT4wX7bNq2sRe',
    );
    expect(await resolveApiToken({ tokenFile: file }, env)).toBe(fromFile);
    expect(await resolveApiToken({}, env)).toBe(fromEnv);
    expect(await resolveApiToken({}, { CREDFLOW_API_TOKENS: env.CREDFLOW_API_TOKENS })).toBe(fromList);
  });

  it('says where a token can come from when there is none', async () => {
    await expect(resolveApiToken({}, {})).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringContaining('set CREDFLOW_TOKEN or pass --token-file'),
    });
  });

  it('refuses a file that group or others can access, even read-only, naming the file and its mode', async () => {
    const open = path.join(dir, 'open');
    await writeFile(open, `${fromFile}\n`);
    for (const mode of [0o640, 0o604, 0o620]) {
      await chmod(open, mode);
      await expect(resolveApiToken({ tokenFile: open }, {})).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        message: `--token-file ${open} is accessible to group or others (mode ${mode.toString(8)}), so the token is not used; run chmod 600 ${open}`,
      });
    }
  });

  it('never quotes the token in its errors', async () => {
    const bad = path.join(dir, 'bad');
    await writeFile(bad, `${fromFile}\u0000${fromEnv}\n`);
    await chmod(bad, 0o600);
    for (const sources of [{ tokenFile: bad }, { token: `${fromFile} ${fromEnv}` }]) {
      const error = await resolveApiToken(sources, {}).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain('is not usable');
      expect((error as Error).message).not.toContain(fromFile.slice(0, 8));
      expect((error as Error).message).not.toContain(fromEnv.slice(0, 8));
    }
  });
});
