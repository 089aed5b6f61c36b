import { mkdir, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { CredflowError } from '../errors.js';
import { cleanOrphanedPostgres } from './orphaned-postgres.js';
import { processAlive, processArgs } from './processes.js';

/**
 * While `npm start` runs, it keeps `.credflow/embedded.json` in its folder: CLI commands in another
 * terminal read it to reach its local Secrets Manager endpoint, and the next start reads it to
 * refuse while this one runs, or to clean up after it should it die hard. It holds the agent's pid,
 * its endpoints once they listen, its PostgreSQL's pid and folders, the key pair generated for
 * this start that the local Secrets Manager endpoint accepts, and the demo Vault's root token: the
 * file is written with mode 0600, so only the user who started the agent (and root) can sign
 * requests to that endpoint or call that Vault.
 */
const recordSchema = z.object({
  pid: z.number().int().positive(),
  secretsEndpoint: z.url().optional(),
  region: z.string().optional(),
  secretsCredentials: z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) }).optional(),
  agentUrl: z.url().optional(),
  vault: z.object({ addr: z.url(), token: z.string().min(1) }).optional(),
  postgres: z
    .object({ dataDir: z.string(), passwordDir: z.string(), pid: z.number().int().positive().optional() })
    .optional(),
});
export type EmbeddedRecord = z.infer<typeof recordSchema>;

/** What the CLI needs of a running embedded agent. */
export interface EmbeddedState {
  pid: number;
  secretsEndpoint: string;
  region: string;
  /** The key pair the embedded Secrets Manager endpoint accepts for this start. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  agentUrl: string;
  /** The demo's Vault and its root token, when the agent uses it. */
  vault: { addr: string; token: string } | undefined;
}

const stateFile = (dir: string) => path.join(dir, '.credflow', 'embedded.json');

async function readRecord(dir: string): Promise<EmbeddedRecord | 'unreadable' | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(dir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return recordSchema.parse(JSON.parse(text));
  } catch {
    return 'unreadable';
  }
}

/** Whether `pid` is a live credflow agent (not a process that reused the pid of a dead one). */
function isLiveAgent(pid: number): boolean {
  if (!processAlive(pid)) return false;
  const args = processArgs(pid);
  return args === undefined || args.some((arg) => /credflow/.test(arg));
}

/**
 * Makes this process the embedded agent of `dir`, by creating the state file exclusively. When
 * another live agent holds it, throws EMBEDDED_ALREADY_RUNNING naming its pid and URL (and leaves
 * its file alone). When the agent that wrote it died, stops the PostgreSQL it left, removes its
 * folders and its file, and returns what was cleaned, one sentence each.
 */
export async function claimEmbeddedState(dir: string): Promise<string[]> {
  const cleaned: string[] = [];
  await mkdir(path.dirname(stateFile(dir)), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      await writeFile(stateFile(dir), `${JSON.stringify({ pid: process.pid }, null, 2)}\n`, {
        mode: 0o600,
        flag: 'wx',
      });
      return cleaned;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const record = await readRecord(dir);
    if (record === 'unreadable') {
      cleaned.push(`removed ${stateFile(dir)}, which was not a state file this version can read`);
    } else if (record && isLiveAgent(record.pid)) {
      const where = record.agentUrl ? ` at ${record.agentUrl}` : ' (still starting)';
      throw new CredflowError(
        'EMBEDDED_ALREADY_RUNNING',
        `another embedded credflow agent (pid ${record.pid}) already runs from ${dir}${where}: stop it first (Ctrl-C in its terminal, or kill ${record.pid}), or start this one with another --dir`,
        { details: { pid: record.pid, ...(record.agentUrl ? { agentUrl: record.agentUrl } : {}) } },
      );
    } else if (record) {
      cleaned.push(`the embedded agent (pid ${record.pid}) that last ran from ${dir} is gone without cleaning up:`);
      if (record.postgres) cleaned.push(...(await cleanOrphanedPostgres(record.postgres)));
      cleaned.push(`removed its ${stateFile(dir)}`);
    }
    await rm(stateFile(dir), { force: true });
  }
  throw new CredflowError(
    'EMBEDDED_ALREADY_RUNNING',
    `another credflow agent keeps creating ${stateFile(dir)}: is one starting from ${dir}?`,
  );
}

/** Adds to this process's state file (atomically, so a reader never sees half of it). */
export async function updateEmbeddedState(dir: string, patch: Omit<Partial<EmbeddedRecord>, 'pid'>): Promise<void> {
  const current = await readRecord(dir);
  const base = current && current !== 'unreadable' && current.pid === process.pid ? current : { pid: process.pid };
  const next = { ...base, ...patch, pid: process.pid };
  const temporary = `${stateFile(dir)}.${process.pid}.tmp`;
  // Created afresh (never an existing file with other permissions): it holds the endpoint's key pair.
  await rm(temporary, { force: true });
  await writeFile(temporary, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await rename(temporary, stateFile(dir));
}

/** Removes the state file if this process wrote it (never another agent's), and `.credflow` if then empty. */
export async function removeEmbeddedState(dir: string): Promise<void> {
  const record = await readRecord(dir);
  if (record && record !== 'unreadable' && record.pid !== process.pid) return;
  await rm(stateFile(dir), { force: true });
  await rmdir(path.dirname(stateFile(dir))).catch(() => undefined);
}

/** The state of a running embedded agent, or undefined when none runs (or is ready) for this folder. */
export async function readEmbeddedState(dir: string): Promise<EmbeddedState | undefined> {
  const record = await readRecord(dir);
  if (!record || record === 'unreadable') return undefined;
  const { pid, secretsEndpoint, region, secretsCredentials, agentUrl, vault } = record;
  if (!secretsEndpoint || !region || !secretsCredentials || !agentUrl || !isLiveAgent(pid)) return undefined;
  return { pid, secretsEndpoint, region, credentials: secretsCredentials, agentUrl, vault };
}
