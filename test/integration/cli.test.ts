import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../src/local-secrets-manager/index.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const bin = fileURLToPath(new URL('../../bin/credflow.js', import.meta.url));

interface CliRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every run of this file, so the last test can search them all for leaked passwords. */
const runs: CliRun[] = [];

/** Runs the real CLI (dist/) in a child process with exactly the env given, and captures its output. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const run = { args, code, stdout, stderr };
      runs.push(run);
      resolve(run);
    });
  });
}

/** The child reaches the endpoint only through the AWS SDK's standard environment. */
const awsEnv = (lsm: LocalSecretsManager): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  AWS_ENDPOINT_URL_SECRETS_MANAGER: lsm.url,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'AKIDCLI',
  AWS_SECRET_ACCESS_KEY: 'cli-secret',
});

/** A careless workflow that logs the password it fetched: the preview must mask its log line too. */
const chattySecrets = {
  name: 'chattySecrets',
  params: { secretName: 'postgresSecrets', region: 'us-east-1' },
  steps: [
    {
      name: 'fetch',
      code: [
        'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName, region: params.region });',
        'const s = JSON.parse(r.SecretString);',
        'console.log(`connecting as ${s.username} with ${s.password}`);',
        'return s;',
      ].join('\n'),
    },
  ],
};

const rdsSecret = (db: TestDatabase, password = db.password) => ({
  SecretString: JSON.stringify({ engine: 'postgres', host: db.host, port: db.port, username: db.username, password, dbname: db.dbname }),
});

/** The readable preview ends with `response:` and the response as JSON. */
const responseOf = (stdout: string): Record<string, unknown> => JSON.parse(stdout.slice(stdout.indexOf('response:\n') + 'response:\n'.length));

/** A password can appear raw, JSON-escaped or, if partly leaked, by its random prefix. */
const leaksOf = (password: string): string[] => [password, JSON.stringify(password).slice(1, -1), password.slice(0, 15)];

describe('the credflow CLI, run as a separate process', () => {
  let lsm: LocalSecretsManager;
  let db: TestDatabase;
  let otherDb: TestDatabase;
  let wrongPassword: string;
  let dir: string;
  let badDir: string;
  let env: NodeJS.ProcessEnv;
  const removals: (() => Promise<void>)[] = [];
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    lsm = await startLocalSecretsManager();
    db = await createTestDatabase('cli');
    otherDb = await createTestDatabase('clio');
    wrongPassword = `Wrong-${randomBytes(9).toString('base64url')}&"'`;
    lsm.createSecret('postgresSecrets', rdsSecret(db));
    lsm.createSecret('otherSecrets', rdsSecret(otherDb));
    lsm.createSecret('wrongSecrets', rdsSecret(db, wrongPassword));
    env = awsEnv(lsm);

    const good = await writeConfigDir({
      workflows: { getSecrets: secretsWorkflow(), getWrongSecrets: secretsWorkflow('getWrongSecrets', 'wrongSecrets'), chattySecrets },
      integrations: { 'widgets-db': postgresIntegration('widgets-db'), 'wrong-db': postgresIntegration('wrong-db', 'getWrongSecrets') },
    });
    const bad = await writeConfigDir({
      workflows: { getSecrets: secretsWorkflow(), broken: { name: 'broken', steps: 'not a list' } },
      integrations: { 'bad-port': { ...postgresIntegration('bad-port'), connection: { host: 'db', port: true } } },
    });
    dir = good.dir;
    badDir = bad.dir;
    removals.push(good.remove, bad.remove);
  });

  afterAll(async () => {
    await lsm?.close();
    for (const remove of removals) await remove();
  });

  describe('validate', () => {
    it('exits 0 with one ok line for a valid folder', async () => {
      const run = await cli('validate', '--dir', dir);
      expect(run.code).toBe(0);
      expect(run.stdout.trim()).toBe(`ok: 3 workflow(s), 2 integration(s) in ${dir}`);
    });

    it('exits 1 with one stderr line per problem, naming the file and the JSON path', async () => {
      const run = await cli('validate', '--dir', badDir);
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines).toContainEqual(expect.stringMatching(/^workflows\/broken\.json: steps: /));
      expect(lines).toContainEqual(expect.stringMatching(/^integrations\/bad-port\.json: connection\.port: /));
    });

    it('exits 1 naming the folder when --dir does not exist, rather than reporting an empty folder as ok', async () => {
      const missing = `${dir}-typo`;
      const run = await cli('validate', '--dir', missing);
      expect(run.stdout).not.toMatch(/^ok:/);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(missing);
    });

    it('gives { ok: false, problems } with --json', async () => {
      const run = await cli('validate', '--json', '--dir', badDir);
      expect(run.code).toBe(1);
      const out = JSON.parse(run.stdout);
      expect(out.ok).toBe(false);
      expect(out.problems).toHaveLength(2);
      expect(out.problems).toContainEqual(expect.stringMatching(/^integrations\/bad-port\.json: connection\.port: /));
    });
  });

  describe('listing', () => {
    it('prints the workflow names with workflows list', async () => {
      const run = await cli('workflows', 'list', '--dir', dir);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^getSecrets\s/m);
      expect(run.stdout).toMatch(/^getWrongSecrets\s/m);
      expect(run.stdout).toMatch(/^chattySecrets\s/m);
    });

    it('prints the integration names with integrations list', async () => {
      const run = await cli('integrations', 'list', '--dir', dir);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^widgets-db\s+postgres\s+getSecrets/m);
      expect(run.stdout).toMatch(/^wrong-db\s+postgres\s+getWrongSecrets/m);
    });
  });

  describe('workflows run', () => {
    it('prints a readable preview with the password masked', async () => {
      lsm.resetRequests();
      const run = await cli('workflows', 'run', 'getSecrets', '--dir', dir);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('workflow getSecrets: ok');
      expect(run.stdout).toContain('step fetch');
      expect(run.stdout).toContain('********');
      expect(run.stdout).toContain(db.host);
      expect(run.stdout).toContain(db.username);
      expect(responseOf(run.stdout)).toMatchObject({ username: db.username, dbname: db.dbname, password: '********' });
    });

    it('signs its Secrets Manager calls with the access key from the AWS SDK environment', async () => {
      lsm.resetRequests();
      const run = await cli('workflows', 'run', 'getSecrets', '--dir', dir);
      expect(run.code).toBe(0);
      expect(lsm.requests).toEqual([expect.objectContaining({ operation: 'GetSecretValue', secretId: 'postgresSecrets', accessKeyId: 'AKIDCLI', status: 200 })]);
    });

    it('shows the password byte for byte with --reveal', async () => {
      const run = await cli('workflows', 'run', 'getSecrets', '--reveal', '--dir', dir);
      expect(run.code).toBe(0);
      expect(run.stdout).not.toContain('********');
      expect(responseOf(run.stdout).password).toBe(db.password);
    });

    it('prints the preview as JSON with --json', async () => {
      const run = await cli('--json', 'workflows', 'run', 'getSecrets', '--dir', dir);
      expect(run.code).toBe(0);
      const preview = JSON.parse(run.stdout);
      expect(preview.response).toMatchObject({ host: db.host, username: db.username, password: '********' });
      expect(preview.steps[0].name).toBe('fetch');
      expect(preview.steps[0].durationMs).toEqual(expect.any(Number));
      expect(preview.steps[0].logs).toEqual(expect.any(Array));
      expect(preview.durationMs).toEqual(expect.any(Number));
      expect(preview.masked).toBe(true);
    });

    it('masks a password that the workflow itself logs, in the readable and the JSON preview', async () => {
      const readable = await cli('workflows', 'run', 'chattySecrets', '--dir', dir);
      expect(readable.code).toBe(0);
      expect(readable.stdout).toContain(`    | connecting as ${db.username} with ********`);
      const json = await cli('--json', 'workflows', 'run', 'chattySecrets', '--dir', dir);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout).steps[0].logs).toEqual([`connecting as ${db.username} with ********`]);
    });

    it('runs against another secret with --param secretName=...', async () => {
      lsm.resetRequests();
      const run = await cli('workflows', 'run', 'getSecrets', '--param', 'secretName=otherSecrets', '--dir', dir);
      expect(run.code).toBe(0);
      expect(responseOf(run.stdout)).toMatchObject({ username: otherDb.username, dbname: otherDb.dbname, password: '********' });
      expect(lsm.requests.map((r) => r.secretId)).toEqual(['otherSecrets']);
    });

    it('exits 1 and names ResourceNotFoundException when the secret does not exist', async () => {
      const run = await cli('workflows', 'run', 'getSecrets', '--param', 'secretName=noSuchSecret', '--dir', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('ResourceNotFoundException');
      expect(run.stderr).toMatch(/^credflow: error \[WORKFLOW_FAILED\]/m);
    });

    it('exits 1 with WORKFLOW_NOT_FOUND for an unknown workflow', async () => {
      const run = await cli('workflows', 'run', 'noSuchWorkflow', '--dir', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('WORKFLOW_NOT_FOUND');
    });
  });

  describe('query', () => {
    it('prints the rows as a table for a parameterised query', async () => {
      const run = await cli('query', 'widgets-db', 'SELECT name FROM widgets WHERE id = $1', '--param', '2', '--dir', dir);
      expect(run.code).toBe(0);
      expect(run.stdout.trim().split('\n')).toEqual(['name', '----', 'gear', '(1 row)']);
    });

    it('returns { fields, rows, rowCount } with --json', async () => {
      const run = await cli('--json', 'query', 'widgets-db', 'SELECT id, name FROM widgets ORDER BY id', '--dir', dir);
      expect(run.code).toBe(0);
      const result = JSON.parse(run.stdout);
      expect(result.fields.map((f: { name: string }) => f.name)).toEqual(['id', 'name']);
      expect(result.rows).toEqual([
        { id: 1, name: 'sprocket' },
        { id: 2, name: 'gear' },
        { id: 3, name: 'flange' },
      ]);
      expect(result.rowCount).toBe(3);
    });

    it('exits 1 with the SQLSTATE when the SQL fails', async () => {
      const run = await cli('query', 'widgets-db', 'SELECT * FROM no_such_table', '--dir', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('DB_QUERY_FAILED');
      expect(run.stderr).toContain('42P01');
    });
  });

  describe('integrations test', () => {
    it('exits 0 and names the stages it went through', async () => {
      const run = await cli('integrations', 'test', 'widgets-db', '--dir', dir);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ok: widgets-db \[default\] \(workflow → template → validation → connect → auth → query\)/);
    });

    it('exits 1 at the auth stage when the secret holds a wrong password, and prints neither password', async () => {
      const run = await cli('integrations', 'test', 'wrong-db', '--dir', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('DB_AUTH_FAILED');
      expect(run.stderr).toContain('auth stage failed');
      for (const text of [run.stdout, run.stderr]) {
        for (const leak of [...leaksOf(wrongPassword), ...leaksOf(db.password)]) expect(text).not.toContain(leak);
      }
    });

    it('exits 1 with INTEGRATION_NOT_FOUND for an unknown integration', async () => {
      const run = await cli('integrations', 'test', 'no-such-db', '--dir', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('INTEGRATION_NOT_FOUND');
      expect(run.stderr).toContain('no-such-db');
    });
  });

  describe('errors with --json', () => {
    it('prints the error as { error: { code, message, details } } on stdout and exits 1', async () => {
      const run = await cli('--json', 'integrations', 'test', 'no-such-db', '--dir', dir);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toEqual({
        error: { code: 'INTEGRATION_NOT_FOUND', message: 'no integration named "no-such-db"', details: { integration: 'no-such-db' } },
      });
    });
  });

  describe('usage', () => {
    it('exits 2 for an unknown command', async () => {
      const run = await cli('frobnicate', '--dir', dir);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("unknown command 'frobnicate'");
    });

    it('exits 2 when a required argument is missing', async () => {
      const run = await cli('query', 'widgets-db', '--dir', dir);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("missing required argument 'sql'");
    });

    it('exits 2 for a workflow param that is not key=value', async () => {
      const run = await cli('workflows', 'run', 'getSecrets', '--param', 'no-equals-sign', '--dir', dir);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('expected key=value');
    });

    it('exits 0 with --help and lists the commands', async () => {
      const run = await cli('--help');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('Usage: credflow');
      for (const command of ['serve', 'validate', 'workflows', 'integrations', 'query']) expect(run.stdout).toContain(command);
    });
  });

  it('never prints a database password in any run without --reveal', () => {
    const unrevealed = runs.filter((run) => !run.args.includes('--reveal'));
    expect(unrevealed.length).toBeGreaterThan(10);
    const passwords = [db.password, otherDb.password, wrongPassword];
    for (const run of unrevealed) {
      for (const leak of passwords.flatMap(leaksOf)) {
        expect({ args: run.args, leaked: run.stdout.includes(leak) || run.stderr.includes(leak) }).toEqual({ args: run.args, leaked: false });
      }
    }
  });
});
