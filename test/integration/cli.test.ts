import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../src/agent/index.js';
import { startLocalSecretsManager, type LocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { captureLogs } from '../support/capture-logs.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const bin = fileURLToPath(new URL('../../bin/credflow.js', import.meta.url));

interface CliRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
  /** The bytes as written, before any decoding. */
  raw: { stdout: Buffer; stderr: Buffer };
}

/** Every run of this file, so the last test can search them all for leaked passwords. */
const runs: CliRun[] = [];

/** Runs the real CLI (dist/) in a child process with exactly the env given, and captures its output; `input` is its stdin. */
function runCli(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', bin, ...args], {
      env,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) child.stdin?.end(input);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const raw = { stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
      const run = { args, code, stdout: raw.stdout.toString('utf8'), stderr: raw.stderr.toString('utf8'), raw };
      runs.push(run);
      resolve(run);
    });
  });
}

/** The key pair of the CLI's environment; the endpoints these tests start accept it. */
const cliKeys = { accessKeyId: 'AKIDCLI', secretAccessKey: 'cLk7Qz2vWn9pXr4t' };

/** The child reaches the endpoint only through the AWS SDK's standard environment. */
const awsEnv = (lsm: LocalSecretsManager): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  AWS_ENDPOINT_URL_SECRETS_MANAGER: lsm.url,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: cliKeys.accessKeyId,
  // Random-looking, as real keys are: the CLI masks every six-character run of it, so a word like
  // "secret" inside it would be masked in every message.
  AWS_SECRET_ACCESS_KEY: cliKeys.secretAccessKey,
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
  SecretString: JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password,
    dbname: db.dbname,
  }),
});

/** The readable preview ends with `response:` and the response as JSON. */
const responseOf = (stdout: string): Record<string, unknown> =>
  JSON.parse(stdout.slice(stdout.indexOf('response:\n') + 'response:\n'.length));

/** A password can appear raw, JSON-escaped or, if partly leaked, by its random prefix. */
const leaksOf = (password: string): string[] => [
  password,
  JSON.stringify(password).slice(1, -1),
  password.slice(0, 15),
];

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
    lsm = await startLocalSecretsManager({ credentials: [cliKeys] });
    db = await createTestDatabase('cli');
    otherDb = await createTestDatabase('clio');
    wrongPassword = `Wrong-${randomBytes(9).toString('base64url')}&"'`;
    lsm.createSecret('postgresSecrets', rdsSecret(db));
    lsm.createSecret('otherSecrets', rdsSecret(otherDb));
    lsm.createSecret('wrongSecrets', rdsSecret(db, wrongPassword));
    env = awsEnv(lsm);

    const good = await writeConfigDir({
      workflows: {
        getSecrets: secretsWorkflow(),
        getWrongSecrets: secretsWorkflow('getWrongSecrets', 'wrongSecrets'),
        chattySecrets,
      },
      integrations: {
        'widgets-db': postgresIntegration('widgets-db'),
        'wrong-db': postgresIntegration('wrong-db', 'getWrongSecrets'),
      },
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
      expect(lsm.requests).toEqual([
        expect.objectContaining({
          operation: 'GetSecretValue',
          secretId: 'postgresSecrets',
          accessKeyId: 'AKIDCLI',
          status: 200,
        }),
      ]);
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
      expect(responseOf(run.stdout)).toMatchObject({
        username: otherDb.username,
        dbname: otherDb.dbname,
        password: '********',
      });
      expect(lsm.requests.map((r) => r.secretId)).toEqual(['otherSecrets']);
    });

    it('exits 1 and names ResourceNotFoundException when the secret does not exist', async () => {
      const run = await cli('workflows', 'run', 'getSecrets', '--param', 'secretName=noSuchSecret', '--dir', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('ResourceNotFoundException');
      expect(run.stderr).toMatch(/^credflow: error \[WORKFLOW_FAILED\]/m);
      expect(run.stderr).toContain("Secrets Manager can't find the specified secret: noSuchSecret");
    });

    it('exits 1 with WORKFLOW_NOT_FOUND for an unknown workflow', async () => {
      const run = await cli('workflows', 'run', 'noSuchWorkflow', '--dir', dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('WORKFLOW_NOT_FOUND');
    });
  });

  describe('query', () => {
    it('prints the rows as a table for a parameterised query', async () => {
      const run = await cli(
        'query',
        'widgets-db',
        'SELECT name FROM widgets WHERE id = $1',
        '--param',
        '2',
        '--dir',
        dir,
      );
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
      expect(run.stdout).toMatch(
        /^ok: widgets-db \[default\] \(workflow → template → validation → connect → auth → query\)/,
      );
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
        error: {
          code: 'INTEGRATION_NOT_FOUND',
          message: 'no integration named "no-such-db"',
          details: { integration: 'no-such-db' },
        },
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
      for (const command of ['serve', 'validate', 'workflows', 'integrations', 'query'])
        expect(run.stdout).toContain(command);
    });
  });

  describe('the edges of the CLI (issue 10, section 9)', () => {
    /** A folder with a capped integration, where a running `npm start` seems to be (its state file names this test's endpoint and pid). */
    let demoDir: string;
    /** The environment of a user with no AWS setup at all: no credentials, region, endpoint or instance metadata. */
    let bareEnv: NodeJS.ProcessEnv;
    let home: string;
    let standInPid: number | undefined;
    const demoSecret = `Demo-${randomBytes(9).toString('base64url')}&"'`;

    beforeAll(async () => {
      const demo = await writeConfigDir({
        workflows: { getSecrets: secretsWorkflow(), getMissing: secretsWorkflow('getMissing', 'noSuchSecret') },
        integrations: {
          'capped-db': { ...postgresIntegration('capped-db'), maxRows: 2 },
          'missing-db': postgresIntegration('missing-db', 'getMissing'),
        },
      });
      demoDir = demo.dir;
      removals.push(demo.remove);
      // A live process whose command line names credflow stands in for the agent the state file records.
      const standIn = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)', 'credflow-agent-stand-in'], {
        stdio: 'ignore',
      });
      standInPid = standIn.pid;
      removals.push(async () => void standIn.kill('SIGKILL'));
      await mkdir(path.join(demoDir, '.credflow'));
      const record = {
        pid: standIn.pid,
        secretsEndpoint: lsm.url,
        region: 'us-east-1',
        secretsCredentials: lsm.credentials,
        agentUrl: 'http://127.0.0.1:9/',
      };
      await writeFile(path.join(demoDir, '.credflow', 'embedded.json'), JSON.stringify(record), { mode: 0o600 });
      home = await mkdtemp(path.join(os.tmpdir(), 'credflow-home-'));
      removals.push(() => rm(home, { recursive: true, force: true }));
      bareEnv = { PATH: process.env.PATH, HOME: home, AWS_EC2_METADATA_DISABLED: 'true' };
    });

    it('prints the version of package.json with --version and -V', async () => {
      const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
        version: string;
      };
      for (const flag of ['--version', '-V']) {
        const run = await cli(flag);
        expect({ flag, code: run.code, stdout: run.stdout.trim() }).toEqual({ flag, code: 0, stdout: version });
      }
    });

    it('names status and invalidate in the top-level help of integrations', async () => {
      const run = await cli('--help');
      // The entry of `integrations`, from its line to the next command's (descriptions wrap).
      const entry = /^ {2}integrations\s[\s\S]*?(?=^ {2}\S)/m.exec(run.stdout)?.[0] ?? '';
      expect(entry).toContain('status');
      expect(entry).toContain('invalidate');
    });

    it('says under the table that a query result was truncated, by how much and by which limit', async () => {
      const run = await cli('query', 'capped-db', 'SELECT id FROM widgets ORDER BY id', '--dir', demoDir);
      expect(run.code).toBe(0);
      expect(run.stdout.trim().split('\n')).toEqual([
        'id',
        '--',
        '1',
        '2',
        "(2 of 3 rows shown: truncated, the integration's maxRows is 2)",
      ]);
    });

    it('writes no log line to stderr without --verbose, even on an error, and writes them with it', async () => {
      const quiet = await cli('integrations', 'test', 'missing-db', '--dir', demoDir);
      expect(quiet.code).toBe(1);
      expect(quiet.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^credflow: error \[WORKFLOW_FAILED\]/)]);
      const verbose = await cli('--verbose', 'integrations', 'test', 'missing-db', '--dir', demoDir);
      expect(verbose.code).toBe(1);
      expect(verbose.stderr).toMatch(/^\{"level":/m);
    });

    it('announces the embedded endpoint only for commands that reach Secrets Manager through it', async () => {
      for (const args of [['validate'], ['workflows', 'list'], ['integrations', 'list']]) {
        const run = await runCli([...args, '--dir', demoDir], bareEnv);
        expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      }
      const run = await runCli(['workflows', 'run', 'getSecrets', '--dir', demoDir], bareEnv);
      expect(run.code).toBe(0);
      expect(run.stderr).toContain(
        `credflow: using the Secrets Manager endpoint of the embedded agent (npm start, pid ${standInPid}) at ${lsm.url}`,
      );
      const viaEnvironment = await cli('workflows', 'run', 'getSecrets', '--dir', demoDir);
      expect(viaEnvironment.stderr).not.toContain('using the Secrets Manager endpoint');
    });

    it('says that no embedded endpoint was found when there are no AWS credentials and no npm start', async () => {
      const run = await runCli(['integrations', 'test', 'widgets-db', '--dir', dir], bareEnv);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`no running \`npm start\` agent in ${dir} (.credflow/embedded.json)`);
      expect(run.stderr).toContain('set AWS_REGION and credentials');
    });

    it('adds a secret to the running demo from stdin with secrets put, and a workflow then reads it', async () => {
      const value = JSON.stringify({
        engine: 'postgres',
        host: db.host,
        port: db.port,
        username: db.username,
        password: demoSecret,
        dbname: db.dbname,
      });
      const put = await runCli(['secrets', 'put', 'my/app-db', '--dir', demoDir], bareEnv, `${value}\n`);
      expect(put.code).toBe(0);
      expect(put.stdout).toContain('ok: created secret my/app-db in the embedded demo');
      expect(`${put.stdout}${put.stderr}`).not.toContain('Demo-');
      lsm.resetRequests();
      const run = await runCli(
        ['workflows', 'run', 'getSecrets', '--param', 'secretName=my/app-db', '--reveal', '--dir', demoDir],
        bareEnv,
      );
      expect(run.code).toBe(0);
      expect(responseOf(run.stdout).password).toBe(demoSecret);
      expect(lsm.requests).toEqual([
        expect.objectContaining({ operation: 'GetSecretValue', secretId: 'my/app-db', status: 200 }),
      ]);
    });

    it('stores a new current version from --file when the secret exists', async () => {
      const file = path.join(home, 'secret.txt');
      await writeFile(file, 'second-value-0123456789');
      const put = await runCli(['secrets', 'put', 'my/plain', '--file', file, '--dir', demoDir], bareEnv);
      expect(put.code).toBe(0);
      await writeFile(file, 'third-value-0123456789');
      const again = await runCli(['secrets', 'put', 'my/plain', '--file', file, '--dir', demoDir], bareEnv);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('ok: stored a new version of secret my/plain');
      const sm = new SecretsManagerClient({ endpoint: lsm.url, region: 'us-east-1', credentials: lsm.credentials });
      const current = await sm.send(new GetSecretValueCommand({ SecretId: 'my/plain' }));
      sm.destroy();
      expect([current.SecretString, current.VersionStages]).toEqual(['third-value-0123456789', ['AWSCURRENT']]);
    });

    it('stores the bytes of --file as SecretBinary with --binary, which a step reads base64-encoded', async () => {
      const bytes = Buffer.from([0x00, 0xff, 0x0a, 0x80, 0x7f, 0x0a]);
      const file = path.join(home, 'keystore.bin');
      await writeFile(file, bytes);
      const put = await runCli(
        ['secrets', 'put', 'my/keystore', '--binary', '--file', file, '--dir', demoDir],
        bareEnv,
      );
      expect(put.code).toBe(0);
      const sm = new SecretsManagerClient({ endpoint: lsm.url, region: 'us-east-1', credentials: lsm.credentials });
      const stored = await sm.send(new GetSecretValueCommand({ SecretId: 'my/keystore' }));
      sm.destroy();
      // Every byte kept, the trailing newline included.
      expect([Buffer.from(stored.SecretBinary ?? []).toString('hex'), stored.SecretString]).toEqual([
        bytes.toString('hex'),
        undefined,
      ]);
    });

    it('refuses secrets put clearly when no embedded demo runs for the folder', async () => {
      const run = await runCli(['secrets', 'put', 'my/app-db', '--dir', dir], bareEnv, 'some-value-0123456789');
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('secrets put works only with the embedded demo');
      expect(run.stderr).toContain(dir);
    });

    it('prints a curl command that works when pasted, with configured tokens', async () => {
      const token = `configured-${randomBytes(12).toString('hex')}`;
      const server = spawn(process.execPath, ['--no-node-snapshot', bin, 'serve', '--port', '0', '--dir', dir], {
        env: { ...env, CREDFLOW_API_TOKENS: token, CREDFLOW_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let banner = '';
      try {
        await new Promise<void>((resolve, reject) => {
          server.stdout.setEncoding('utf8').on('data', (chunk: string) => {
            banner += chunk;
            if (banner.includes('Press Ctrl-C')) resolve();
          });
          server.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${banner}`)));
        });
        expect(banner).not.toContain(token);
        const curl =
          banner
            .split('\n')
            .find((l) => l.trim().startsWith('curl '))
            ?.trim() ?? '';
        expect(curl).toContain('"Authorization: Bearer $CREDFLOW_TOKEN"');
        expect(banner).toContain('set CREDFLOW_TOKEN');
        const out = await new Promise<string>((resolve, reject) => {
          const sh = spawn('sh', ['-c', curl], {
            env: { PATH: process.env.PATH, CREDFLOW_TOKEN: token },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let text = '';
          sh.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          sh.on('error', reject);
          sh.on('close', () => resolve(text));
        });
        expect(JSON.parse(out)).toMatchObject({ rows: [{ ok: 1 }], rowCount: 1 });
      } finally {
        if (server.exitCode === null) {
          const exited = new Promise((resolve) => server.on('exit', resolve));
          server.kill('SIGTERM');
          await exited;
        }
      }
    });
  });

  describe('terminal escapes in readable output (issue 19, section 4)', () => {
    /** Workflows whose logs, response and error carry escape sequences, as hostile step code could. */
    let hostileDir: string;
    const ESC = 0x1b;
    const CR = 0x0d;
    /** Neither stream carries a byte that starts an escape sequence or returns the cursor. */
    const expectNoEscapes = (run: CliRun) => {
      for (const stream of ['stdout', 'stderr'] as const) {
        expect({ stream, esc: run.raw[stream].includes(ESC), cr: run.raw[stream].includes(CR) }).toEqual({
          stream,
          esc: false,
          cr: false,
        });
      }
    };

    beforeAll(async () => {
      const talk = [
        "console.log('\\x1b[2J\\x1b[Hcleared');",
        "console.log('line one\\nworkflow hostile: ok\\rSPOOF');",
        "return { text: 'a\\x1b[31m\\u009b2K\\u202eb\\u007f\\u2028', plain: 'fine' };",
      ].join('\n');
      const hostile = await writeConfigDir({
        workflows: {
          hostile: { name: 'hostile', steps: [{ name: 'talk', code: talk }] },
          hostileFail: {
            name: 'hostileFail',
            steps: [
              {
                name: 'talk',
                code: "console.log('\\x1b[8mhidden'); throw new Error('\\x1b[2K\\rcredflow: ok\\nworkflow hostileFail: ok');",
              },
            ],
          },
        },
      });
      hostileDir = hostile.dir;
      removals.push(hostile.remove);
    });

    it('escapes ESC and CR in the cells and column names of a query table', async () => {
      const sql = `SELECT E'\\x1b[31mRED\\x1b[0m' AS red, E'ok\\rSPOOF' AS spoof, 1 AS U&"\\001b[8mhidden"`;
      const run = await cli('query', 'widgets-db', sql, '--dir', dir);
      expect(run.code).toBe(0);
      expectNoEscapes(run);
      const lines = run.stdout.trim().split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[0]).toMatch(/^red\s+spoof\s+\\x1b\[8mhidden$/);
      expect(lines[2]).toMatch(/^\\x1b\[31mRED\\x1b\[0m\s+ok\\rSPOOF\s+1$/);
    });

    it('escapes a database error that tries to erase its line and print a fake success', async () => {
      const run = await cli(
        'query',
        'widgets-db',
        "DO $$ BEGIN RAISE EXCEPTION E'\\x1b[2K\\rcredflow: ok (0 rows)\\x1b[8m'; END $$",
        '--dir',
        dir,
      );
      expect(run.code).toBe(1);
      expectNoEscapes(run);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/^credflow: error \[DB_QUERY_FAILED\]: .*\\x1b\[2K\\rcredflow: ok \(0 rows\)\\x1b\[8m/),
      ]);
    });

    it('gives the exact values with --json, as before', async () => {
      const run = await cli(
        '--json',
        'query',
        'widgets-db',
        `SELECT E'\\x1b[31mRED\\x1b[0m' AS red, E'ok\\rSPOOF' AS spoof`,
        '--dir',
        dir,
      );
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout).rows).toEqual([{ red: '\x1b[31mRED\x1b[0m', spoof: 'ok\rSPOOF' }]);
      const failed = await cli(
        '--json',
        'query',
        'widgets-db',
        "DO $$ BEGIN RAISE EXCEPTION E'\\x1b[2K\\rgone'; END $$",
        '--dir',
        dir,
      );
      expect(failed.code).toBe(1);
      expect(JSON.parse(failed.stdout).error.message).toContain('\x1b[2K\rgone');
    });

    it('escapes step logs, keeping each log line behind its prefix, and prints the response as JSON of the same value', async () => {
      const run = await cli('workflows', 'run', 'hostile', '--dir', hostileDir);
      expect(run.code).toBe(0);
      expectNoEscapes(run);
      expect(run.stdout).toContain('    | \\x1b[2J\\x1b[Hcleared\n');
      expect(run.stdout).toContain('    | line one\n    | workflow hostile: ok\\rSPOOF\n');
      expect(run.stdout).not.toMatch(/^workflow hostile: ok\\r/m);
      const response = responseOf(run.stdout);
      expect(response).toEqual({ text: 'a\x1b[31m\u009b2K\u202eb\u007f\u2028', plain: 'fine' });
      expect(run.stdout).not.toMatch(/[\u0080-\u009f\u202e\u2028\u007f]/);
      const json = await cli('--json', 'workflows', 'run', 'hostile', '--dir', hostileDir);
      expect(JSON.parse(json.stdout).steps[0].logs).toEqual([
        '\x1b[2J\x1b[Hcleared',
        'line one\nworkflow hostile: ok\rSPOOF',
      ]);
    });

    it('escapes the logs and the error of a failed step, and indents the later lines of the error', async () => {
      const run = await cli('workflows', 'run', 'hostileFail', '--dir', hostileDir);
      expect(run.code).toBe(1);
      expectNoEscapes(run);
      expect(run.stdout).toContain('    | \\x1b[8mhidden');
      const errorLines = run.stderr.trimEnd().split('\n');
      expect(errorLines[0]).toMatch(/^credflow: error \[WORKFLOW_FAILED\]: .*\\x1b\[2K\\rcredflow: ok$/);
      expect(errorLines.slice(1).every((l) => l.startsWith('  '))).toBe(true);
      expect(run.stderr).not.toMatch(/^workflow hostileFail: ok/m);
    });
  });

  describe('the API token of a running agent, kept off the command line (issue 19, section 6)', () => {
    let agent: RunningAgent;
    let tokenHome: string;
    const token = `cli-${randomBytes(18).toString('base64url')}`;
    const otherToken = `other-${randomBytes(18).toString('base64url')}`;
    const tokenRuns: CliRun[] = [];
    /** `integrations status` against the agent, with exactly the extra env given. */
    const status = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
      const run = await runCli(['integrations', 'status', 'widgets-db', '--url', agent.url, ...args], {
        ...env,
        ...extraEnv,
      });
      tokenRuns.push(run);
      return run;
    };
    const tokenFile = async (name: string, text: string, mode = 0o600) => {
      const file = path.join(tokenHome, name);
      await writeFile(file, text);
      await chmod(file, mode);
      return file;
    };
    const expectStatus = (run: CliRun) => {
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^cached\s+false$/m);
    };

    beforeAll(async () => {
      tokenHome = await mkdtemp(path.join(os.tmpdir(), 'credflow-token-'));
      removals.push(() => rm(tokenHome, { recursive: true, force: true }));
      agent = await startAgent({
        dir,
        port: 0,
        host: '127.0.0.1',
        tokens: [token, otherToken],
        watch: false,
        reloadOnSighup: false,
        logDestination: captureLogs(),
        logLevel: 'silent',
        secrets: {
          endpoint: lsm.url,
          defaultRegion: 'us-east-1',
          defaultCredentials: { accessKeyId: 'AKIDCLI', secretAccessKey: 'cLk7Qz2vWn9pXr4t' },
        },
      });
      removals.unshift(() => agent.close());
    });

    it('takes the token from CREDFLOW_TOKEN', async () => {
      expectStatus(await status([], { CREDFLOW_TOKEN: token }));
    });

    it('takes the token from the first line of --token-file, trimmed, before CREDFLOW_TOKEN', async () => {
      const file = await tokenFile('token', `  ${token}\t\r\nnot the token\n`);
      expectStatus(await status(['--token-file', file]));
      expectStatus(await status(['--token-file', file], { CREDFLOW_TOKEN: 'wrong-token-0123456789' }));
    });

    it('still takes --token, before --token-file', async () => {
      expectStatus(await status(['--token', token, '--token-file', path.join(tokenHome, 'never-read')]));
    });

    it('names the file when --token-file is missing, empty, not a file or open to group or others, rather than falling back to CREDFLOW_TOKEN', async () => {
      const missing = path.join(tokenHome, 'missing-token');
      const empty = await tokenFile('empty-token', '\n');
      const open = await tokenFile('open-token', `${token}\n`, 0o644);
      const cases: [string, RegExp][] = [
        [missing, /cannot read --token-file .*missing-token: file not found/],
        [empty, /--token-file .*empty-token: the first line is empty/],
        [tokenHome, /cannot read --token-file .*: not a file/],
        [
          open,
          /--token-file .*open-token is accessible to group or others \(mode 644\), so the token is not used; run chmod 600 /,
        ],
      ];
      for (const [file, message] of cases) {
        const run = await status(['--token-file', file], { CREDFLOW_TOKEN: token });
        expect({ file, code: run.code, stdout: run.stdout }).toEqual({ file, code: 1, stdout: '' });
        expect(run.stderr).toMatch(/^credflow: error \[BAD_REQUEST\]: /);
        expect(run.stderr).toMatch(message);
        expect(run.stderr).toContain(file);
      }
    });

    it('refuses a token that an HTTP header cannot carry, without quoting it', async () => {
      const file = await tokenFile('spaced-token', `${token} ${otherToken}\n`);
      const run = await status(['--token-file', file]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`the API token from --token-file ${file} is not usable`);
      const fromEnv = await status([], { CREDFLOW_TOKEN: `${otherToken}\u0001` });
      expect(fromEnv.code).toBe(1);
      expect(fromEnv.stderr).toContain('the API token from CREDFLOW_TOKEN is not usable');
    });

    it('says in the help that --token shows in ps and where else the token can come from', async () => {
      const run = await runCli(['integrations', 'status', '--help'], env);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('--token-file <path>');
      expect(run.stdout).toMatch(/--token <token>\s+API token; every local user can read it in\s+ps/);
      expect(run.stdout.replace(/\s+/g, ' ')).toContain(
        'The API token comes from --token, else --token-file, else CREDFLOW_TOKEN, else the first of CREDFLOW_API_TOKENS.',
      );
    });

    it('never prints a token, whichever way it was given and whether or not it was accepted', async () => {
      const rejected = await status([], { CREDFLOW_TOKEN: `wrong-${otherToken}` });
      expect(rejected.code).toBe(1);
      expect(rejected.stderr).toContain('UNAUTHORIZED');
      expect(tokenRuns.length).toBeGreaterThan(8);
      for (const run of tokenRuns) {
        for (const secret of [token, otherToken])
          expect({ args: run.args, leaked: `${run.stdout}${run.stderr}`.includes(secret) }).toEqual({
            args: run.args,
            leaked: false,
          });
      }
    });
  });

  describe('a failed workflow run prints the steps that ran, from its error, in process and over HTTP', () => {
    let agent: RunningAgent;
    let failDir: string;
    const token = `run-${randomBytes(18).toString('base64url')}`;
    /** Logs the password it fetched, then fails: its log line is in the error's steps. */
    const chattyFailure = {
      name: 'chattyFailure',
      params: { secretName: 'postgresSecrets', region: 'us-east-1' },
      steps: [
        {
          name: 'fetch',
          code: [
            'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName, region: params.region });',
            'const s = JSON.parse(r.SecretString);',
            'console.log(`connecting as ${s.username} with ${s.password}`);',
            "throw new Error('gave up after logging');",
          ].join('\n'),
        },
      ],
    };
    const overHttp = (...args: string[]) =>
      runCli(['workflows', 'run', 'chattyFailure', '--url', agent.url, '--dir', failDir, ...args], {
        ...env,
        CREDFLOW_TOKEN: token,
      });
    const inProcess = (...args: string[]) => cli('workflows', 'run', 'chattyFailure', '--dir', failDir, ...args);
    const expectFailedRun = (run: CliRun, logLine: string) => {
      expect(run.code).toBe(1);
      expect(run.stdout.split('\n')).toEqual([
        expect.stringMatching(/^ {2}step fetch \(\d+ ms\)$/),
        `    | ${logLine}`,
        '',
      ]);
      expect(run.stderr).toMatch(/^credflow: error \[WORKFLOW_FAILED\]: .*gave up after logging/);
    };

    beforeAll(async () => {
      const failing = await writeConfigDir({ workflows: { chattyFailure } });
      failDir = failing.dir;
      removals.push(failing.remove);
      agent = await startAgent({
        dir: failDir,
        env: { CREDFLOW_HTTP_AUTH_FAILURE_LIMIT: '1', CREDFLOW_HTTP_AUTH_FAILURE_WINDOW_SECONDS: '3600' },
        port: 0,
        host: '127.0.0.1',
        tokens: [token],
        watch: false,
        reloadOnSighup: false,
        logDestination: captureLogs(),
        logLevel: 'silent',
        secrets: { endpoint: lsm.url, defaultRegion: 'us-east-1', defaultCredentials: cliKeys },
      });
      removals.unshift(() => agent.close());
    });

    it('prints the step and its log line masked, in process and over HTTP', async () => {
      const masked = `connecting as ${db.username} with ********`;
      expectFailedRun(await inProcess(), masked);
      expectFailedRun(await overHttp(), masked);
    });

    it('shows the log line with --reveal, in process and over HTTP', async () => {
      const revealed = `connecting as ${db.username} with ${db.password}`;
      expectFailedRun(await inProcess('--reveal'), revealed);
      expectFailedRun(await overHttp('--reveal'), revealed);
    });

    it('gives the steps in the error details with --json, over HTTP', async () => {
      const run = await runCli(['--json', 'workflows', 'run', 'chattyFailure', '--url', agent.url, '--dir', failDir], {
        ...env,
        CREDFLOW_TOKEN: token,
      });
      expect(run.code).toBe(1);
      const { error } = JSON.parse(run.stdout);
      expect(error.code).toBe('WORKFLOW_FAILED');
      expect(error.details.steps).toEqual([
        { name: 'fetch', durationMs: expect.any(Number), logs: [`connecting as ${db.username} with ********`] },
      ]);
    });

    it('exits 75 (retry later) when the agent refuses for now, here after too many failed authentications', async () => {
      const wrong = { ...env, CREDFLOW_TOKEN: `wrong-${token}` };
      const args = ['integrations', 'status', 'nothing', '--url', agent.url, '--dir', failDir];
      const refused = await runCli(args, wrong);
      expect({ code: refused.code, stderr: refused.stderr }).toEqual({
        code: 1,
        stderr: expect.stringContaining('[UNAUTHORIZED]'),
      });
      const limited = await runCli(args, wrong);
      expect({ code: limited.code, stderr: limited.stderr }).toEqual({
        code: 75,
        stderr: expect.stringContaining('[TOO_MANY_AUTH_FAILURES]'),
      });
    });
  });

  it('never prints a database password in any run without --reveal', () => {
    const unrevealed = runs.filter((run) => !run.args.includes('--reveal'));
    expect(unrevealed.length).toBeGreaterThan(10);
    const passwords = [db.password, otherDb.password, wrongPassword];
    for (const run of unrevealed) {
      for (const leak of passwords.flatMap(leaksOf)) {
        expect({ args: run.args, leaked: run.stdout.includes(leak) || run.stderr.includes(leak) }).toEqual({
          args: run.args,
          leaked: false,
        });
      }
    }
  });
});
