import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../src/embedded/start-embedded-postgres.js';

export interface ProvidedPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: ProvidedPostgres;
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * Sandbox workers are child processes that run the compiled dist/ (the tests run the TypeScript
 * sources): `npm test` builds first, and a bare `npx vitest` rebuilds here when src/ is newer.
 */
function ensureBuilt(): void {
  const worker = path.join(root, 'dist', 'sandbox', 'guest', 'worker-main.js');
  let built: number;
  try {
    built = newestMtime(path.join(root, 'dist'));
    statSync(worker);
  } catch {
    built = 0;
  }
  if (built >= newestMtime(path.join(root, 'src'))) return;
  execFileSync(
    process.execPath,
    [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json')],
    { stdio: 'inherit' },
  );
}

/** One embedded PostgreSQL (password auth) for the whole run; each test file makes its own roles and tables. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensureBuilt();
  const pg = await startEmbeddedPostgres();
  project.provide('postgres', { host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  return () => pg.stop();
}
