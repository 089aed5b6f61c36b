import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { exitedWithin, processArgs } from './processes.js';

/**
 * The postmaster serving `dataDir`, if it still runs: the pid recorded (or the first line of its
 * postmaster.pid) must belong to a process whose command line is `postgres -D <dataDir>`, so a pid
 * reused by another process is never killed.
 */
async function postmasterOf(dataDir: string, recorded: number | undefined): Promise<number | undefined> {
  const fromFile = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')
    .then((text) => Number.parseInt(text.split('\n')[0] ?? '', 10))
    .catch(() => undefined);
  for (const pid of [recorded, fromFile]) {
    if (pid === undefined || !Number.isInteger(pid) || pid <= 0) continue;
    const args = processArgs(pid);
    const at = args?.indexOf('-D') ?? -1;
    if (args && at >= 0 && args[at + 1] === dataDir && /(^|\/)postgres$/.test(args[0] ?? '')) return pid;
  }
  return undefined;
}

/** An initdb still writing into `dataDir` (its agent was killed while it ran). */
async function initdbOf(dataDir: string): Promise<number[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((name) => /^\d+$/.test(name)).map(Number);
  return pids.filter((pid) => {
    const args = processArgs(pid);
    return args !== undefined && /(^|\/)initdb$/.test(args[0] ?? '') && args.includes(`--pgdata=${dataDir}`);
  });
}

/** Only folders this code creates are ever removed, whatever a state file says. */
const ours = (dir: string, prefix: string) =>
  path.isAbsolute(dir) && path.basename(dir).startsWith(prefix) && !dir.includes('\0');

/**
 * Stops the PostgreSQL a dead agent left running and removes its data and password folders.
 * Returns what it did, one sentence each.
 */
export async function cleanOrphanedPostgres(left: {
  dataDir: string;
  passwordDir: string;
  pid?: number | undefined;
}): Promise<string[]> {
  const done: string[] = [];
  if (!ours(left.dataDir, 'credflow-pg-') || !ours(left.passwordDir, 'credflow-pgpw-')) {
    return [`left ${left.dataDir} and ${left.passwordDir} alone: not folders credflow creates`];
  }
  const signal = (pid: number, name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // It exited meanwhile.
    }
  };
  for (const pid of await initdbOf(left.dataDir)) {
    signal(pid, 'SIGKILL');
    await exitedWithin(pid, 2_000);
    done.push(`stopped its initdb (pid ${pid}) on ${left.dataDir}`);
  }
  const pid = await postmasterOf(left.dataDir, left.pid);
  if (pid !== undefined) {
    signal(pid, 'SIGINT');
    if (!(await exitedWithin(pid, 8_000))) {
      signal(pid, 'SIGKILL');
      await exitedWithin(pid, 2_000);
    }
    done.push(`stopped its PostgreSQL (pid ${pid}) on ${left.dataDir}`);
  }
  for (const dir of [left.dataDir, left.passwordDir]) {
    const existed = existsSync(dir);
    await rm(dir, { recursive: true, force: true });
    if (existed) done.push(`removed ${dir}`);
  }
  return done;
}
