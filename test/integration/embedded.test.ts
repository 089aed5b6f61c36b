import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/run-cli.js';

const bin = fileURLToPath(new URL('../../bin/credflow.js', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bannerTimeoutMs = 60_000;
const exitTimeoutMs = 30_000;

/** What a new user has: PATH and HOME, no AWS settings, no tokens. */
const userEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...extra,
});

/** A temp folder holding copies of the shipped workflows/ and integrations/. */
async function copyOfShippedConfig(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-embedded-test-'));
  await cp(path.join(repoRoot, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
  await cp(path.join(repoRoot, 'integrations'), path.join(dir, 'integrations'), { recursive: true });
  return dir;
}

interface Server {
  child: ChildProcessWithoutNullStreams;
  dir: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `credflow serve --embedded --port 0` in `dir`, as `npm start` runs it. */
function startServer(dir: string, env: NodeJS.ProcessEnv, port = 0): Server {
  const child = spawn(
    process.execPath,
    ['--no-node-snapshot', bin, 'serve', '--embedded', '--port', String(port), '--dir', dir],
    { cwd: dir, env },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, dir, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves with the banner's curl line once printed; rejects if the server exits or takes too long. */
function waitForCurlLine(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const line = server
        .stdout()
        .split('\n')
        .find((l) => l.trim().startsWith('curl '));
      if (line && server.stdout().includes('Press Ctrl-C to stop.')) done(() => resolve(line.trim()));
    };
    const onExit = () =>
      done(() => reject(new Error(`server exited before its banner:\n${server.stdout()}\n${server.stderr()}`)));
    const timer = setTimeout(
      () =>
        done(() => reject(new Error(`no banner after ${bannerTimeoutMs} ms:\n${server.stdout()}\n${server.stderr()}`))),
      bannerTimeoutMs,
    );
    const done = (settle: () => void) => {
      clearTimeout(timer);
      server.child.stdout.off('data', check);
      server.child.off('exit', onExit);
      settle();
    };
    server.child.stdout.on('data', check);
    server.child.once('exit', onExit);
    check();
  });
}

/** The request the banner tells the user to try, taken apart. */
function parseCurl(line: string): { url: string; authorization: string; body: string } {
  const match =
    /curl -s -X POST (\S+) -H (['"])Authorization: ([^'"]+)\2 -H 'Content-Type: application\/json' -d '([^']*)'/.exec(
      line,
    );
  if (!match) throw new Error(`not the expected curl command: ${line}`);
  const [, url = '', , authorization = '', body = ''] = match;
  return { url, authorization, body };
}

/** Waits for the process to exit, up to `ms`; undefined if it has not. */
async function exitWithin(
  server: Server,
  ms: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([server.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Proc {
  pid: number;
  ppid: number;
  args: string;
}

function processes(): Proc[] {
  return execFileSync('ps', ['-ww', '-eo', 'pid,ppid,args'], { encoding: 'utf8' })
    .split('\n')
    .slice(1)
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
}

/** The data directory of the postgres server a process started (`postgres -D <dir> ...`). */
function postgresDataDirOf(parentPid: number | undefined): string | undefined {
  const postmaster = processes().find((p) => p.ppid === parentPid && /\/postgres -D /.test(p.args));
  return postmaster && /-D (\S+)/.exec(postmaster.args)?.[1];
}

const postgresServing = (dataDir: string) => processes().filter((p) => p.args.includes(`postgres -D ${dataDir} `));

/**
 * A temp folder (TMPDIR) for one server alone, traversable like /tmp: what it leaves there is its
 * own, whatever other test runs start meanwhile.
 */
async function privateTmp(): Promise<string> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'credflow-embedded-tmp-'));
  await chmod(tmp, 0o755);
  return tmp;
}

/** What a server left in its temp folder: data directories and password folders. */
const embeddedDataDirs = async (tmp: string): Promise<string[]> =>
  (await readdir(tmp)).filter((name) => name.startsWith('credflow-pg')).map((name) => path.join(tmp, name));

/**
 * Stops a server whatever state a failed test left it in: SIGTERM, then SIGKILL, then its postgres
 * (by pid) and its data directory, so no test leaves a process or a cluster behind.
 */
async function forceStop(server: Server | undefined, dataDir: string | undefined): Promise<void> {
  if (!server) return;
  if (server.child.exitCode === null && server.child.signalCode === null) {
    dataDir ??= postgresDataDirOf(server.child.pid);
    server.child.kill('SIGTERM');
    if (!(await exitWithin(server, exitTimeoutMs))) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  }
  if (dataDir) {
    for (const p of postgresServing(dataDir)) process.kill(p.pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
  await rm(server.dir, { recursive: true, force: true });
}

/** Holds a loopback port until released, so a server told to use it cannot. */
async function occupyPort(): Promise<{ port: number; release(): Promise<void> }> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  return {
    port: (holder.address() as AddressInfo).port,
    release: () => new Promise((resolve) => holder.close(() => resolve())),
  };
}

describe('credflow serve --embedded, as a new user runs it', () => {
  let server: Server;
  let dir: string;
  let curl: ReturnType<typeof parseCurl>;
  let dataDir: string | undefined;
  let tmp: string;
  let demoPassword: string | undefined;

  beforeAll(async () => {
    dir = await copyOfShippedConfig();
    tmp = await privateTmp();
    server = startServer(dir, userEnv({ TMPDIR: tmp }));
    curl = parseCurl(await waitForCurlLine(server));
    dataDir = postgresDataDirOf(server.child.pid);
  }, bannerTimeoutMs + 10_000);

  afterAll(
    async () => {
      await forceStop(server, dataDir);
    },
    2 * exitTimeoutMs + 10_000,
  );

  it('generates an API token and prints it in the banner and the curl command', () => {
    const printed = /API token \(generated for this run; set CREDFLOW_API_TOKENS to choose\): (\S+)/.exec(
      server.stdout(),
    )?.[1];
    expect(printed).toMatch(/^[\w-]{20,}$/);
    expect(curl.authorization).toBe(`Bearer ${printed}`);
  });

  it('answers the printed curl request with the three demo orders', async () => {
    const res = await fetch(curl.url, {
      method: 'POST',
      headers: { authorization: curl.authorization, 'content-type': 'application/json' },
      body: curl.body,
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { rows: { customer: string }[]; rowCount: number };
    expect(result.rowCount).toBe(3);
    expect(result.rows.map((r) => r.customer)).toEqual(['Ada Lovelace', 'Grace Hopper', 'Edsger Dijkstra']);
  });

  it.each([
    ['demo-postgres-vault', 'the local Vault (KV v2)'],
    ['demo-postgres-ssm', 'the seeded SSM SecureString'],
    ['demo-postgres-role', 'Secrets Manager read as an IAM role the local STS lets it assume'],
    ['demo-postgres-vault-dynamic', "a user the local Vault's database secrets engine created for its lease"],
  ])('answers the same query through %s, whose credentials come from %s', async (integration) => {
    const res = await fetch(curl.url.replace('/integrations/demo-postgres/', `/integrations/${integration}/`), {
      method: 'POST',
      headers: { authorization: curl.authorization, 'content-type': 'application/json' },
      body: curl.body,
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as { rows: { customer: string }[]; rowCount: number };
    expect(result.rows.map((r) => r.customer)).toEqual(['Ada Lovelace', 'Grace Hopper', 'Edsger Dijkstra']);
  });

  it('answers /healthz without a token but refuses the API without one', async () => {
    const base = new URL(curl.url).origin;
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const api = await fetch(`${base}/api/v1/integrations`);
    expect(api.status).toBe(401);
  });

  it('runs its PostgreSQL in a fresh credflow-pg-* directory under the system temp folder (TMPDIR)', () => {
    expect(dataDir).toBeDefined();
    expect(path.dirname(dataDir ?? '')).toBe(tmp);
    expect(path.basename(dataDir ?? '')).toMatch(/^credflow-pg-/);
  });

  it('leaves .credflow/embedded.json in its folder while it runs, naming its pid and endpoints', async () => {
    const state = JSON.parse(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8'));
    expect(state).toMatchObject({ pid: server.child.pid, region: 'us-east-1', agentUrl: new URL(curl.url).origin });
    expect(state.secretsEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('lets the CLI in another process, with no AWS settings, find its Secrets Manager endpoint and mask the password', async () => {
    const revealed = await runCli(['--json', 'workflows', 'run', 'getSecrets', '--reveal', '--dir', dir], {
      cwd: dir,
      env: userEnv(),
    });
    expect(revealed.code).toBe(0);
    demoPassword = JSON.parse(revealed.stdout).response.password;
    expect(demoPassword).toEqual(expect.any(String));

    const masked = await runCli(['workflows', 'run', 'getSecrets', '--dir', dir], { cwd: dir, env: userEnv() });
    expect(masked.code).toBe(0);
    expect(masked.stderr).toContain(
      `using the Secrets Manager endpoint of the embedded agent (npm start, pid ${server.child.pid})`,
    );
    expect(masked.stdout).toContain('"username": "credflow_demo"');
    expect(masked.stdout).toContain('"password": "********"');
    for (const leak of [demoPassword ?? '', JSON.stringify(demoPassword).slice(1, -1)]) {
      expect(masked.stdout).not.toContain(leak);
      expect(masked.stderr).not.toContain(leak);
    }
  });

  it('lets the CLI in another process find its Vault: dynamic database credentials, masked, from a fresh lease', async () => {
    const run = await runCli(['workflows', 'run', 'getVaultDatabaseCreds', '--dir', dir], { cwd: dir, env: userEnv() });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/"username": "v-demo-[0-9a-f]+"/);
    expect(run.stdout).toContain('"password": "********"');
    expect(run.stdout).toMatch(/lease database\/creds\/demo\/\S+ for 3600 s/);
    const { vault } = JSON.parse(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8'));
    expect(run.stderr).toContain(`, and its Vault at ${vault.addr}`);
    for (const output of [run.stdout, run.stderr, server.stdout(), server.stderr()])
      expect(output).not.toContain(vault.token);
  });

  it('keeps the key pair of its Secrets Manager endpoint, fresh for this start, only in the 0600 state file (issue 19, section 1)', async () => {
    const file = path.join(dir, '.credflow', 'embedded.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const state = JSON.parse(await readFile(file, 'utf8'));
    expect(state.secretsCredentials.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(state.secretsCredentials.secretAccessKey).toHaveLength(40);
    for (const output of [server.stdout(), server.stderr()])
      expect(output).not.toContain(state.secretsCredentials.secretAccessKey);
  });

  it("refuses the issue's unsigned curl for the demo password, and an unsigned PutSecretValue changes nothing (issue 19, section 1)", async () => {
    const { secretsEndpoint } = JSON.parse(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8'));
    const call = (target: string, body: unknown) =>
      fetch(secretsEndpoint, {
        method: 'POST',
        headers: { 'x-amz-target': `secretsmanager.${target}`, 'content-type': 'application/x-amz-json-1.1' },
        body: JSON.stringify(body),
      });
    const read = await call('GetSecretValue', { SecretId: 'postgresSecrets' });
    const text = await read.text();
    expect({ status: read.status, type: read.headers.get('x-amzn-errortype') }).toEqual({
      status: 400,
      type: 'MissingAuthenticationTokenException',
    });
    expect(text).not.toContain(demoPassword);
    const forged = JSON.stringify({
      engine: 'postgres',
      host: '127.0.0.1',
      port: 9,
      username: 'credflow_demo',
      password: 'Qz7-Forged-4kWp',
      dbname: 'demo',
    });
    const write = await call('PutSecretValue', { SecretId: 'postgresSecrets', SecretString: forged });
    expect(write.status).toBe(400);
    // The agent's own (signed) reads still see the demo password, and a user's own AWS keys in the
    // environment do not stop the CLI from using the endpoint's.
    const env = userEnv({
      AWS_ACCESS_KEY_ID: 'AKIAUSERSOWNKEY00000',
      AWS_SECRET_ACCESS_KEY: 'Ux4Kq9Lm2Wz7Rt5Np8Vb3Hc6',
    });
    const revealed = await runCli(['--json', 'workflows', 'run', 'getSecrets', '--reveal', '--dir', dir], {
      cwd: dir,
      env,
    });
    expect(revealed.code).toBe(0);
    expect(JSON.parse(revealed.stdout).response.password).toBe(demoPassword);
  });

  it('stops on SIGTERM with exit code 0, removing its state file, its data directory and its postgres', async () => {
    expect(dataDir).toBeDefined();
    expect(postgresServing(dataDir ?? '')).not.toEqual([]);

    server.child.kill('SIGTERM');
    const exit = await exitWithin(server, exitTimeoutMs);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toContain('credflow: SIGTERM received, shutting down…');
    expect(server.stdout().trimEnd().endsWith('credflow: stopped')).toBe(true);
    expect(existsSync(path.join(dir, '.credflow'))).toBe(false);
    expect(existsSync(dataDir ?? '')).toBe(false);
    expect(postgresServing(dataDir ?? '')).toEqual([]);
    expect(await embeddedDataDirs(tmp)).toEqual([]);
    await rm(tmp, { recursive: true, force: true });
  });

  it('never printed the demo password while it ran', () => {
    expect(demoPassword).toEqual(expect.any(String));
    for (const leak of [demoPassword ?? '', JSON.stringify(demoPassword).slice(1, -1)]) {
      expect(server.stdout()).not.toContain(leak);
      expect(server.stderr()).not.toContain(leak);
    }
  });
});

describe('credflow serve --embedded with CREDFLOW_API_TOKENS set', () => {
  let server: Server;
  let curlLine: string;
  let dataDir: string | undefined;

  beforeAll(async () => {
    server = startServer(
      await copyOfShippedConfig(),
      userEnv({ CREDFLOW_API_TOKENS: 'tok-a-0123456789abcdef,tok-b-0123456789abcdef' }),
    );
    curlLine = await waitForCurlLine(server);
    dataDir = postgresDataDirOf(server.child.pid);
  }, bannerTimeoutMs + 10_000);

  afterAll(
    async () => {
      await forceStop(server, dataDir);
    },
    2 * exitTimeoutMs + 10_000,
  );

  it('prints no token, only where the tokens come from', () => {
    expect(server.stdout()).toContain('API token: as configured (CREDFLOW_API_TOKENS or CREDFLOW_TOKENS_FILE)');
    expect(server.stdout()).not.toContain('tok-a-0123456789abcdef');
    expect(server.stdout()).not.toContain('tok-b-0123456789abcdef');
    // In double quotes, so that the shell expands the variable the banner says to set.
    expect(curlLine).toContain('-H "Authorization: Bearer $CREDFLOW_TOKEN"');
  });

  it('accepts any of the configured tokens and refuses others', async () => {
    const { url, body } = parseCurl(curlLine);
    const post = (token: string) =>
      fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
    const accepted = await post('tok-b-0123456789abcdef');
    expect(accepted.status).toBe(200);
    expect(((await accepted.json()) as { rowCount: number }).rowCount).toBe(3);
    expect((await post('tok-c')).status).toBe(401);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    server.child.kill('SIGTERM');
    expect(await exitWithin(server, exitTimeoutMs)).toEqual({ code: 0, signal: null });
    expect(server.stdout()).toContain('credflow: stopped');
    expect(existsSync(dataDir ?? '')).toBe(false);
  });
});

describe('credflow serve --embedded when its port is taken', () => {
  let server: Server | undefined;
  let occupied: Awaited<ReturnType<typeof occupyPort>>;

  beforeAll(async () => {
    occupied = await occupyPort();
  });

  afterAll(
    async () => {
      await forceStop(server, undefined);
      await occupied.release();
    },
    2 * exitTimeoutMs + 10_000,
  );

  it(
    'exits 1 naming the port, and leaves no state file or data directory behind',
    async () => {
      const dir = await copyOfShippedConfig();
      const tmp = await privateTmp();
      server = startServer(dir, userEnv({ TMPDIR: tmp }), occupied.port);

      const exit = await exitWithin(server, bannerTimeoutMs);

      expect(server.stderr()).toContain(
        `LISTEN_FAILED]: cannot listen on 127.0.0.1:${occupied.port}: the port is already in use`,
      );
      expect(exit).toEqual({ code: 1, signal: null });
      expect(existsSync(path.join(dir, '.credflow'))).toBe(false);
      expect(await embeddedDataDirs(tmp)).toEqual([]);
      await rm(tmp, { recursive: true, force: true });
    },
    bannerTimeoutMs + 10_000,
  );
});
