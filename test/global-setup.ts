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

/** One embedded PostgreSQL (password auth) for the whole run; each test file makes its own roles and tables. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pg = await startEmbeddedPostgres();
  project.provide('postgres', { host: pg.host, port: pg.port, user: pg.user, password: pg.password });
  return () => pg.stop();
}
