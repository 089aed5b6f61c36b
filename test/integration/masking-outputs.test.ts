import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASK } from '../../src/masking/index.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';
import { secretsIn } from '../support/leak-check.js';
import { startLocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const shipped = (file: string) => readFileSync(path.join(import.meta.dirname, '../../workflows', file), 'utf8');

/** Every run of six characters of a secret: none may appear in an output a caller did not ask to reveal. */
function fragmentsIn(text: string, secret: string): string[] {
  const found: string[] = [];
  for (let i = 0; i + 6 <= secret.length; i++) if (text.includes(secret.slice(i, i + 6))) found.push(`${i}`);
  return found;
}

const apiKey = 'sk_live_51Hxyz9QeRtY7uIoP3aSdF';
const jsonSecret = { engine: 'postgres', username: 'app_reader', password: 'Jq7-vXe2Rb9-wNt4Lk' };
const step = (name: string, code: string) => ({ name, code });
const readSecret = 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName });';

describe('outputs carry no fragment of a plaintext secret (issue 10, section 3)', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent({
      workflows: {
        getSecrets: JSON.parse(shipped('getSecrets.json')),
        parsesPlain: {
          name: 'parsesPlain',
          params: { secretName: 'plain/apikey' },
          steps: [step('fetch', `${readSecret} return JSON.parse(r.SecretString);`)],
        },
        jsonThenFails: {
          name: 'jsonThenFails',
          params: { secretName: 'json/db' },
          steps: [
            step(
              'fetch',
              `${readSecret} const d = JSON.parse(r.SecretString); throw new Error(\`password authentication failed for username \${d.username} (engine postgres, secret postgresSecrets): \${d.password.slice(2, 12)}\`);`,
            ),
          ],
        },
        slices: {
          name: 'slices',
          params: { secretName: 'plain/apikey' },
          steps: [step('fetch', `${readSecret} throw new Error(\`key \${r.SecretString.slice(3, 15)} was refused\`);`)],
        },
      },
      files: { 'workflows/getSecrets.js': shipped('getSecrets.js') },
      integrations: { 'plain-api': postgresIntegration('plain-api', 'parsesPlain') },
    });
    t.secrets.createSecret('plain/apikey', { SecretString: apiKey });
    t.secrets.createSecret('json/db', { SecretString: JSON.stringify(jsonSecret) });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('previews the shipped getSecrets on a plaintext secret as { value }, masked', async () => {
    const res = await t.request('POST', '/api/v1/workflows/getSecrets/run', { params: { secretName: 'plain/apikey' } });
    expect(res.status).toBe(200);
    expect(res.body.response).toEqual({ value: MASK });
    const revealed = await t.request('POST', '/api/v1/workflows/getSecrets/run', {
      params: { secretName: 'plain/apikey' },
      reveal: true,
    });
    expect(revealed.body.response).toEqual({ value: apiKey });
  });

  it('answers a step whose JSON.parse quotes the start of the secret with an error holding no fragment of it', async () => {
    const res = await t.request('POST', '/api/v1/workflows/parsesPlain/run', {});
    expect(res.status).toBe(502);
    expect(res.text).toContain('JSON');
    expect(fragmentsIn(res.text, apiKey)).toEqual([]);
  });

  it('answers a step that puts a slice of the secret in its error with no fragment of it', async () => {
    const res = await t.request('POST', '/api/v1/workflows/slices/run', {});
    expect(res.status).toBe(502);
    expect(res.text).toContain('was refused');
    expect(fragmentsIn(res.text, apiKey)).toEqual([]);
  });

  it("scrubs a JSON secret's password fragments from a step's error, but not the words of its structure", async () => {
    const res = await t.request('POST', '/api/v1/workflows/jsonThenFails/run', {});
    expect(res.status).toBe(502);
    expect(fragmentsIn(res.text, jsonSecret.password)).toEqual([]);
    // The document's keys and plain values ("engine":"postgres","username":) are not secret.
    expect(res.body.error.message).toContain(
      'password authentication failed for username app_reader (engine postgres, secret postgresSecrets): ********',
    );
  });

  it('keeps fragments out of a failed query, the status lastRefreshError and every log line', async () => {
    const query = await t.request('POST', '/api/v1/integrations/plain-api/query', { sql: 'SELECT 1' });
    expect(query.status).toBe(502);
    const status = await t.request('GET', '/api/v1/integrations/plain-api/status');
    expect(status.status).toBe(200);
    expect(status.body.lastRefreshError.message).toContain('JSON');
    for (const text of [query.text, status.text, ...t.logs.lines]) expect(fragmentsIn(text, apiKey)).toEqual([]);
  });
});

describe('the masker learns only real secrets and log lines stay JSON (issue 10, section 4)', () => {
  let db: TestDatabase;
  let t: TestAgent;
  const hostile = ['previewtok', '"event":"audit"', 'demo-postgres', '{', ':', 'audit'];
  const stepKey = 'step-chosen-secret-access-key-0123';

  beforeAll(async () => {
    db = await createTestDatabase('maskhostile');
    t = await startTestAgent(
      {
        workflows: {
          getSecrets: secretsWorkflow('getSecrets', 'postgresSecrets'),
          readsAny: {
            name: 'readsAny',
            params: { secretName: 'hostile/0' },
            steps: [step('fetch', `${readSecret} return { value: r.SecretString };`)],
          },
          passesKeys: {
            name: 'passesKeys',
            params: { secretName: 'hostile/0' },
            steps: [
              step(
                'fetch',
                `const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName, credentials: { accessKeyId: 'AKIDSTEP', secretAccessKey: '${stepKey}' } }); return { ok: true };`,
              ),
            ],
          },
        },
        integrations: { 'demo-postgres': postgresIntegration('demo-postgres', 'getSecrets') },
      },
      {},
      {
        tokens: [
          { id: 'previewtok', token: 'hostile-test-token-0123456789', scopes: ['read', 'preview', 'query', 'reveal'] },
          { id: 'audit', token: 'read-only-token-0123456789', scopes: ['read'] },
        ],
        awsCredentials: [{ accessKeyId: 'AKIDSTEP', secretAccessKey: stepKey }],
      },
    );
    t.secrets.createSecret('postgresSecrets', {
      SecretString: JSON.stringify({
        host: db.host,
        port: db.port,
        username: db.username,
        password: db.password,
        dbname: db.dbname,
      }),
    });
    hostile.forEach((value, i) => t.secrets.createSecret(`hostile/${i}`, { SecretString: value }));
  });

  afterAll(async () => {
    // The hostile values are identifiers by design (a token id, an integration name, the audit
    // event): the leak search of close() must find them in the lines, and nothing else.
    const stored = secretsIn(t.storedValues());
    const error = await t.close().then(
      () => undefined,
      (e: Error) => e,
    );
    const findings = error?.message.split('\n').slice(1) ?? [];
    for (const finding of findings) {
      const index = Number(/secret #(\d+)/.exec(finding)?.[1]);
      expect(hostile).toContain(stored[index]);
    }
  });

  const token = 'hostile-test-token-0123456789';
  const readOnly = 'read-only-token-0123456789';

  it('writes every log line as valid JSON with keys, events, token ids, routes and integration names intact', async () => {
    for (let i = 0; i < hostile.length; i++) {
      const preview = await t.request(
        'POST',
        '/api/v1/workflows/readsAny/run',
        { params: { secretName: `hostile/${i}` } },
        token,
      );
      expect(preview.status).toBe(200);
    }
    expect(
      (await t.request('POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT 1 AS one' }, token)).status,
    ).toBe(200);
    expect(
      (await t.request('POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT 1' }, readOnly)).status,
    ).toBe(403);
    expect((await t.request('GET', '/api/v1/integrations/no-such', undefined, token)).status).toBe(404);
    const lines = t.logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const audits = lines.filter((line) => line.event === 'audit');
    expect(
      audits.some(
        (line) =>
          line.action === 'preview' &&
          line.tokenId === 'previewtok' &&
          line.route === 'POST /api/v1/workflows/:name/run',
      ),
    ).toBe(true);
    expect(
      audits.some((line) => line.action === 'query' && line.integration === 'demo-postgres' && line.outcome === 'ok'),
    ).toBe(true);
    expect(
      audits.some((line) => line.action === 'access' && line.tokenId === 'audit' && line.outcome === 'forbidden'),
    ).toBe(true);
    for (const line of lines) for (const key of Object.keys(line)) expect(key).not.toContain(MASK);
  });

  it('names the integration unmasked in an error, though a store holds its name as a secret', async () => {
    const res = await t.request('GET', '/api/v1/integrations/demo-postgres/status?profile=nope', undefined, token);
    expect(res.status).toBe(404);
    expect(res.body.error.message).toContain('integration "demo-postgres" has no profile "nope"');
  });

  it('does not learn the secretAccessKey a step passes to the bridge', async () => {
    const res = await t.request('POST', '/api/v1/workflows/passesKeys/run', {}, token);
    expect(res.status).toBe(200);
    expect(t.agent.parts.masker.knows(stepKey)).toBe(false);
    expect(t.agent.parts.masker.mask(`x ${stepKey} y`)).toBe(`x ${stepKey} y`);
  });
});

describe('the config API masks credentials, not identifiers (issue 10, section 5)', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent(
      {
        workflows: { getSecrets: secretsWorkflow('getSecrets', 'prod/db') },
        integrations: {
          'demo-postgres': {
            ...postgresIntegration('demo-postgres', 'getSecrets'),
            fetchCredentialsDynamically: {
              enabled: true,
              workflow: 'getSecrets',
              params: { secretName: 'prod/db', password: 'literal-in-params-1' },
            },
          },
          'static-pg': {
            name: 'static-pg',
            kind: 'postgres',
            connection: {
              host: 'db.internal',
              port: 5432,
              database: 'app',
              user: 'app',
              password: 'Literal-Config-Pw-77',
            },
          },
          'env-pg': {
            name: 'env-pg',
            kind: 'postgres',
            connection: {
              host: '${PGHOST_FOR_TEST}',
              port: 5432,
              database: 'app',
              user: 'app',
              password: '${PG_PASSWORD_FOR_TEST}',
            },
          },
        },
      },
      { PGHOST_FOR_TEST: 'db.from.env', PG_PASSWORD_FOR_TEST: 'Expanded-Env-Pw-88' },
    );
  });

  afterAll(async () => {
    await t?.close();
  });

  it('shows the workflow and secret names of fetchCredentialsDynamically and masks a literal password in its params', async () => {
    const res = await t.request('GET', '/api/v1/integrations/demo-postgres');
    expect(res.status).toBe(200);
    expect(res.body.config.fetchCredentialsDynamically).toEqual({
      enabled: true,
      workflow: 'getSecrets',
      params: { secretName: 'prod/db', password: MASK },
    });
    expect(res.body.config.connection.password).toBe('<<credentials.response.password>>');
  });

  it("shows a workflow's secretName param", async () => {
    const res = await t.request('GET', '/api/v1/workflows/getSecrets');
    expect(res.status).toBe(200);
    expect(res.body.config.params).toEqual({ secretName: 'prod/db', region: 'us-east-1' });
  });

  it('masks a password written in the config and shows hosts and ${VAR} references', async () => {
    const literal = await t.request('GET', '/api/v1/integrations/static-pg');
    expect(literal.body.config.connection).toEqual({
      host: 'db.internal',
      port: 5432,
      database: 'app',
      user: 'app',
      password: MASK,
    });
    const fromEnv = await t.request('GET', '/api/v1/integrations/env-pg');
    expect(fromEnv.body.config.connection).toMatchObject({
      host: '${PGHOST_FOR_TEST}',
      password: '${PG_PASSWORD_FOR_TEST}',
    });
    expect(fromEnv.text).not.toContain('Expanded-Env-Pw-88');
  });
});

describe("the masker's bounds in a running agent (issue 10, section 4)", () => {
  let db: TestDatabase;
  let t: TestAgent;

  beforeAll(async () => {
    db = await createTestDatabase('maskbounds');
    t = await startTestAgent(
      {
        workflows: {
          getSecrets: secretsWorkflow('getSecrets', 'postgresSecrets'),
          readsAny: {
            name: 'readsAny',
            params: { secretName: 'many/0' },
            steps: [step('fetch', `${readSecret} return { value: r.SecretString };`)],
          },
        },
        integrations: { 'demo-postgres': postgresIntegration('demo-postgres', 'getSecrets') },
      },
      { CREDFLOW_MASKER_MAX_SECRETS: '16' },
    );
    t.secrets.createSecret('postgresSecrets', {
      SecretString: JSON.stringify({
        host: db.host,
        port: db.port,
        username: db.username,
        password: db.password,
        dbname: db.dbname,
      }),
    });
    for (let i = 0; i < 40; i++)
      t.secrets.createSecret(`many/${i}`, { SecretString: `distinct-${i}-${(i * 7919).toString(36)}-Zq${i}` });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('holds at most CREDFLOW_MASKER_MAX_SECRETS learnt values after many previews, keeping the cached password, and keeps serving', async () => {
    expect(
      (await t.request('POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT 1 AS one' })).status,
    ).toBe(200);
    for (let i = 0; i < 40; i++) {
      const res = await t.request('POST', '/api/v1/workflows/readsAny/run', { params: { secretName: `many/${i}` } });
      expect(res.status).toBe(200);
      expect(res.body.response).toEqual({ value: MASK });
    }
    const masker = t.agent.parts.masker;
    expect(masker.learntUsage.secrets).toBeLessThanOrEqual(16);
    expect(masker.knows(db.password)).toBe(true);
    expect(masker.knows('distinct-0-0-Zq0')).toBe(false);
    // The bound has its gauges, read at scrape time.
    const metrics = await t.request('GET', '/metrics');
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics.text)?.[1]);
    expect(gauge('credflow_masker_learnt_secrets')).toBe(masker.learntUsage.secrets);
    expect(gauge('credflow_masker_learnt_bytes')).toBe(masker.learntUsage.bytes);
    expect(gauge('credflow_masker_learnt_secrets')).toBeGreaterThan(0);
    expect(metrics.text).toMatch(
      new RegExp(
        `^credflow_sandbox_workers\\{kind="pool",measure="workers"\\} ${t.agent.parts.sandbox.status().length}$`,
        'm',
      ),
    );
    const query = await t.request('POST', '/api/v1/integrations/demo-postgres/query', { sql: 'SELECT 2 AS two' });
    expect(query.status).toBe(200);
    expect(query.body.rows).toEqual([{ two: 2 }]);
  });

  it('forgets the cached password once its entry is invalidated and room is needed', async () => {
    expect((await t.request('POST', '/api/v1/integrations/demo-postgres/invalidate')).status).toBe(200);
    for (let i = 20; i < 40; i++)
      expect(
        (await t.request('POST', '/api/v1/workflows/readsAny/run', { params: { secretName: `many/${i}` } })).status,
      ).toBe(200);
    expect(t.agent.parts.masker.knows(db.password)).toBe(false);
    expect(t.agent.parts.masker.learntUsage.secrets).toBeLessThanOrEqual(16);
  });
});

describe('the CLI prints no fragment of a plaintext secret (issue 10, section 3)', () => {
  const bin = fileURLToPath(new URL('../../bin/credflow.js', import.meta.url));

  it('prints a failed run whose JSON.parse quoted the secret without any fragment of it', async () => {
    const lsm = await startLocalSecretsManager({
      credentials: [{ accessKeyId: 'AKIDCLI', secretAccessKey: 'cli-secret-key' }],
    });
    const folder = await writeConfigDir({
      workflows: {
        parsesPlain: {
          name: 'parsesPlain',
          params: { secretName: 'plain/apikey' },
          steps: [step('fetch', `${readSecret} return JSON.parse(r.SecretString);`)],
        },
      },
    });
    try {
      lsm.createSecret('plain/apikey', { SecretString: apiKey });
      const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: lsm.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDCLI',
        AWS_SECRET_ACCESS_KEY: 'cli-secret-key',
      };
      const run = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          ['--no-node-snapshot', bin, 'workflows', 'run', 'parsesPlain', '--dir', folder.dir],
          { env, stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, out }));
      });
      expect(run.code).not.toBe(0);
      expect(run.out).toContain('JSON');
      expect(fragmentsIn(run.out, apiKey)).toEqual([]);
    } finally {
      await lsm.close();
      await folder.remove();
    }
  });
});

describe('the masker holds the values of the cached response, when two loads of one entry overlap (issue 10, section 4)', () => {
  let db: TestDatabase;
  let t: TestAgent;
  const alpha = 'alpha-Kq3vZ8wN2pXr';
  const bravo = 'bravo-Lm7tY4cQ9sWd';
  const secretFor = (apiKey: string, slow: boolean) => ({
    SecretString: JSON.stringify({
      host: db.host,
      port: db.port,
      username: db.username,
      password: db.password,
      dbname: db.dbname,
      apiKey,
      slow,
    }),
  });

  beforeAll(async () => {
    db = await createTestDatabase('maskrace');
    // The first load reads a secret that makes its step compute for a while after reading it.
    const slowAfterRead = `${readSecret} const s = JSON.parse(r.SecretString); if (s.slow) { const end = Date.now() + 1500; while (Date.now() < end) {} } return s;`;
    t = await startTestAgent(
      {
        workflows: {
          getSecrets: { name: 'getSecrets', params: { secretName: 'race/db' }, steps: [step('fetch', slowAfterRead)] },
          readsAny: {
            name: 'readsAny',
            params: { secretName: 'many/0' },
            steps: [step('fetch', `${readSecret} return { value: r.SecretString };`)],
          },
        },
        integrations: { racy: postgresIntegration('racy', 'getSecrets') },
      },
      { CREDFLOW_MASKER_MAX_SECRETS: '16' },
    );
    t.secrets.createSecret('race/db', secretFor(alpha, true));
    for (let i = 0; i < 40; i++)
      t.secrets.createSecret(`many/${i}`, { SecretString: `distinct-${i}-${(i * 7919).toString(36)}-Yq${i}` });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('keeps holding the newer load values when an older, slower load of the same entry finishes after it', async () => {
    const query = () => t.request('POST', '/api/v1/integrations/racy/query', { sql: 'SELECT 1 AS one' });
    const slow = query();
    // The slow load has read its secret once the store has answered it.
    while (t.secrets.countRequests('GetSecretValue') === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    t.secrets.putSecretValue('race/db', secretFor(bravo, false));
    expect((await t.request('POST', '/api/v1/integrations/racy/invalidate')).status).toBe(200);
    expect((await query()).status).toBe(200);
    expect((await slow).status).toBe(200);
    // Previews need room: only values no cached entry holds may be forgotten.
    for (let i = 0; i < 40; i++)
      expect(
        (await t.request('POST', '/api/v1/workflows/readsAny/run', { params: { secretName: `many/${i}` } })).status,
      ).toBe(200);
    expect(t.agent.parts.masker.knows(bravo)).toBe(true);
  });
});
