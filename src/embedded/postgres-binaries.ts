import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, lstat, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CredflowError } from '../errors.js';

/** Where the PostgreSQL binaries live, and the user they run as (set when the agent runs as root). */
export interface PostgresBinaries {
  /** The folder holding bin/, lib/ and share/. */
  root: string;
  initdb: string;
  postgres: string;
  version: string;
  runAs?: { uid: number; gid: number };
}

const execFileAsync = promisify(execFile);

/** The folder of the @embedded-postgres package of this platform (the one embedded-postgres itself picks). */
async function packageDirOf(): Promise<string> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    // Its only export names the binaries, in <package>/native/bin.
    const { initdb } = (await import(name)) as { initdb: string };
    return path.resolve(initdb, '..', '..', '..');
  } catch (error) {
    throw new CredflowError(
      'EMBEDDED_POSTGRES_FAILED',
      `no PostgreSQL binaries for ${os.platform()}-${os.arch()}: the package ${name} is not installed`,
      { cause: error },
    );
  }
}

const binariesIn = (root: string, version: string, runAs?: { uid: number; gid: number }): PostgresBinaries => ({
  root,
  initdb: path.join(root, 'bin', 'initdb'),
  postgres: path.join(root, 'bin', 'postgres'),
  version,
  ...(runAs ? { runAs } : {}),
});

/** The uid and gid of the `postgres` system user, creating it when missing (PostgreSQL refuses to run as root). */
async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const lookup = async () => {
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', 'postgres']),
      execFileAsync('id', ['-g', 'postgres']),
    ]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await lookup();
  } catch {
    try {
      await execFileAsync('groupadd', ['--system', 'postgres']).catch(() => undefined);
      await execFileAsync('useradd', ['--system', '-g', 'postgres', 'postgres']);
      return await lookup();
    } catch (error) {
      throw new CredflowError(
        'EMBEDDED_POSTGRES_FAILED',
        'running as root, and no `postgres` system user exists to run PostgreSQL as (PostgreSQL refuses to run as root); creating it with useradd failed: create it, or run npm start as another user',
        { cause: error },
      );
    }
  }
}

/** Whether `user` can run `binary` where it is (every parent folder must be traversable by it). */
function canRun(binary: string, user: { uid: number; gid: number }): boolean {
  const result = spawnSync(binary, ['--version'], { uid: user.uid, gid: user.gid, stdio: 'ignore', timeout: 30_000 });
  return result.error === undefined && result.status === 0;
}

/**
 * Every entry under `dir` (and `dir` itself) is owned by root, no symlink leaves it, and none is
 * writable by group or others, so no other local user can have planted or swapped a binary.
 */
async function ownedByRootOnly(dir: string): Promise<boolean> {
  const check = async (entry: string) => {
    const info = await lstat(entry);
    if (info.uid !== 0) return false;
    if (info.isSymbolicLink()) return true;
    return (info.mode & 0o022) === 0;
  };
  try {
    if (!(await lstat(dir)).isDirectory() || !(await check(dir))) return false;
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!(await check(path.join(entry.parentPath, entry.name)))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * A root-owned copy of the binaries under the system temp folder, cached by version: made in a
 * private mkdtemp folder and renamed into place, so it is whole when it appears (its modes are the
 * package's: folders and binaries 0755). A folder of that name that root does not own alone is never
 * used, nor changed (no chmod: it could be a symlink planted by another user).
 */
async function reachableCopy(source: string, version: string): Promise<string> {
  const target = path.join(os.tmpdir(), `credflow-postgres-binaries-${version}-${os.platform()}-${os.arch()}`);
  if (await ownedByRootOnly(target)) return target;
  const staging = await mkdtemp(path.join(os.tmpdir(), 'credflow-postgres-binaries-staging-'));
  try {
    // verbatimSymlinks: lib/ holds relative symlinks, which must keep pointing inside the copy.
    await cp(source, path.join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
    await rename(path.join(staging, 'native'), target).catch(async () => {
      // Another start made it meanwhile (checked below), or someone else owns the name.
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  if (!(await ownedByRootOnly(target))) {
    throw new CredflowError(
      'EMBEDDED_POSTGRES_FAILED',
      `cannot use ${target} for a copy of the PostgreSQL binaries: it exists and is not owned by root alone (every entry root-owned, none writable by group or others); remove it and start again`,
    );
  }
  return target;
}

/**
 * The PostgreSQL binaries to run. As root, PostgreSQL runs as the `postgres` system user, which
 * must reach the binaries; when the project sits in a folder it cannot traverse (`/root/...`, any
 * mode-700 parent), the binaries are copied to a root-owned folder under the system temp folder.
 * `from` overrides the package folder (tests use a copy in such a folder).
 */
export async function postgresBinaries(from?: string): Promise<PostgresBinaries> {
  const packageDir = from ? undefined : await packageDirOf();
  const root = from ?? path.join(packageDir ?? '', 'native');
  const version = packageDir
    ? (JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string }).version
    : `custom-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
  if (process.getuid?.() !== 0) return binariesIn(root, version);
  const runAs = await postgresUser();
  const here = binariesIn(root, version, runAs);
  if (canRun(here.initdb, runAs) && canRun(here.postgres, runAs)) return here;
  const copy = binariesIn(await reachableCopy(root, version), version, runAs);
  if (canRun(copy.initdb, runAs) && canRun(copy.postgres, runAs)) return copy;
  throw new CredflowError(
    'EMBEDDED_POSTGRES_FAILED',
    `the postgres system user cannot run the PostgreSQL binaries in ${root}, nor a copy of them in ${copy.root}: run npm start as a user other than root, or from a folder every user can traverse (chmod o+x on each parent folder)`,
  );
}
