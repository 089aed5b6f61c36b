import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import {
  createRoleAndDatabase as createRole,
  type SuperuserConnection,
} from '../../src/embedded/create-role-and-database.js';

export interface TestDatabase {
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
}

/** Runs SQL as the superuser of the shared embedded PostgreSQL. */
export async function asSuperuser<T>(use: (client: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const server = inject('postgres');
  const client = new pg.Client({ ...server, database });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** A PostgreSQL server and its superuser: the shared one, or one a test file started for itself. */
export type PostgresServer = SuperuserConnection;

/** A fresh role (password login, `password`) owning a fresh database, named `<prefix>_user_<hex>` and `<prefix>_db_<hex>`, on `server`. */
export async function createRoleAndDatabase(
  server: PostgresServer,
  prefix: string,
  password: string,
): Promise<TestDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const db: TestDatabase = {
    host: server.host,
    port: server.port,
    dbname: `${prefix}_db_${suffix}`,
    username: `${prefix}_user_${suffix}`,
    password,
  };
  await createRole(server, db);
  return db;
}

/**
 * A fresh role (password login) owning a fresh database with a `widgets` table of three rows.
 * The password holds characters that must survive templates byte for byte.
 */
export async function createTestDatabase(prefix = 'cf'): Promise<TestDatabase> {
  const db = await createRoleAndDatabase(
    inject('postgres'),
    prefix,
    `Pw-${randomBytes(9).toString('base64url')}&<>"'{}<<{{x}}`,
  );
  const owner = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.username,
    password: db.password,
    database: db.dbname,
  });
  await owner.connect();
  try {
    await owner.query(`CREATE TABLE widgets (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2) NOT NULL);
      INSERT INTO widgets VALUES (1, 'sprocket', 2.50), (2, 'gear', 4.00), (3, 'flange', 9.75);`);
  } finally {
    await owner.end();
  }
  return db;
}
