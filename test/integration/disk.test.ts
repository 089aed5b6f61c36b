import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalSecretsManager, type LocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';
import { findLeaks, secretsIn } from '../support/leak-check.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const bin = fileURLToPath(new URL('../../bin/credflow.js', import.meta.url));
const token = 'disk-test-token-0123456789';

/** Every file under `dir` (recursively), with its text. */
async function filesUnder(dir: string): Promise<{ file: string; text: string }[]> {
  const out: { file: string; text: string }[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.push({ file, text: (await readFile(file)).toString('latin1') });
  }
  return out;
}

/**
 * The agent, as `credflow serve` in its own process with its own HOME, TMPDIR and working folder,
 * fetches, previews (masked and revealed), queries and fails; afterwards no file it could have
 * written holds a secret, and its output holds none either.
 */
describe('nothing secret is written to disk by the agent', () => {
  let lsm: LocalSecretsManager;
  let db: TestDatabase;
  let scratch: string;
  let config: { dir: string; remove(): Promise<void> };
  let server: ChildProcess;
  let output = '';
  let url = '';

  beforeAll(async () => {
    db = await createTestDatabase('disk');
    lsm = await startLocalSecretsManager({
      credentials: [{ accessKeyId: 'AKIDDISK', secretAccessKey: 'disk-aws-secret-key' }],
    });
    lsm.createSecret('postgresSecrets', {
      SecretString: JSON.stringify({
        engine: 'postgres',
        host: db.host,
        port: db.port,
        username: db.username,
        password: db.password,
        dbname: db.dbname,
      }),
    });
    lsm.createSecret('apiKey', { SecretString: 'plain-secret-value-for-disk-test' });
    config = await writeConfigDir({
      workflows: {
        getSecrets: secretsWorkflow(),
        chatty: {
          name: 'chatty',
          steps: [
            {
              name: 'fetch',
              code: "const r = await aws.secretsManager.getSecretValue({ SecretId: 'apiKey' }); console.log('key', r.SecretString); return { key: r.SecretString };",
            },
          ],
        },
      },
      integrations: { db: postgresIntegration('db') },
    });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'credflow-disk-'));
    for (const sub of ['home', 'tmp', 'cwd']) await mkdir(path.join(scratch, sub));
    server = spawn(process.execPath, ['--no-node-snapshot', bin, 'serve', '--dir', config.dir, '--port', '0'], {
      cwd: path.join(scratch, 'cwd'),
      env: {
        PATH: process.env.PATH,
        HOME: path.join(scratch, 'home'),
        TMPDIR: path.join(scratch, 'tmp'),
        CREDFLOW_API_TOKENS: token,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: lsm.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDDISK',
        AWS_SECRET_ACCESS_KEY: 'disk-aws-secret-key',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    server.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const started = Date.now();
    while (!/listening on (http:\/\/\S+)/.test(output)) {
      if (Date.now() - started > 20_000) throw new Error(`the agent did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    url = /listening on (http:\/\/\S+)/.exec(output)?.[1] ?? '';
  }, 60_000);

  afterAll(async () => {
    await lsm?.close();
    await config?.remove();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const call = async (route: string, body: unknown) => {
    const res = await fetch(`${url}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  };

  it('serves queries, masked and revealed previews and failures, then stops cleanly', async () => {
    expect((await call('/api/v1/integrations/db/query', { sql: 'SELECT 1 AS one' })).status).toBe(200);
    expect((await call('/api/v1/workflows/getSecrets/run', {})).text).not.toContain(db.password);
    expect((await call('/api/v1/workflows/chatty/run', { reveal: true })).text).toContain(
      'plain-secret-value-for-disk-test',
    );
    expect((await call('/api/v1/workflows/chatty/run', {})).status).toBe(200);
    expect((await call('/api/v1/integrations/db/query', { sql: 'SELECT * FROM no_such_table' })).status).toBe(400);
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);

  it('left no file holding a secret in its HOME, TMPDIR, working folder or config folder', async () => {
    const secrets = [...secretsIn(lsm.heldValues()), 'disk-aws-secret-key', token];
    const files = [...(await filesUnder(scratch)), ...(await filesUnder(config.dir))];
    const leaks = findLeaks(
      files.map((f) => ({ where: f.file, text: f.text })),
      secrets,
    );
    expect(leaks).toEqual([]);
    // What it did leave, if anything, is listed here should the test fail above.
    for (const f of files) expect((await stat(f.file)).isFile()).toBe(true);
  });

  it('printed no secret on its stdout or stderr (its logs), the revealed preview being an HTTP response', () => {
    expect(output).toContain('"event":"audit"');
    const secrets = [...secretsIn(lsm.heldValues()), 'disk-aws-secret-key', token];
    expect(findLeaks([{ where: 'agent output', text: output }], secrets)).toEqual([]);
  });
});
