import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createRoleAndDatabase } from './create-role-and-database.js';
import type { EmbeddedPostgresHandle } from './start-embedded-postgres.js';

export interface DemoDatabase {
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
}

/**
 * Creates the demo role (password login, generated here and never printed), its database and a
 * small `orders` table. The password holds characters that templates must not escape.
 */
export async function seedDemoDatabase(server: EmbeddedPostgresHandle): Promise<DemoDatabase> {
  const demo: DemoDatabase = {
    host: server.host,
    port: server.port,
    dbname: 'demo',
    username: 'credflow_demo',
    password: `${randomBytes(12).toString('base64url')}&<"{}>'`,
  };
  await createRoleAndDatabase(server, demo);
  const owner = new pg.Client({
    host: demo.host,
    port: demo.port,
    user: demo.username,
    password: demo.password,
    database: demo.dbname,
  });
  await owner.connect();
  try {
    await owner.query(`
      CREATE TABLE orders (
        id serial PRIMARY KEY,
        customer text NOT NULL,
        item text NOT NULL,
        total numeric(10, 2) NOT NULL,
        placed_at timestamptz NOT NULL DEFAULT now()
      );
      INSERT INTO orders (customer, item, total) VALUES
        ('Ada Lovelace', 'analytical engine manual', 42.00),
        ('Grace Hopper', 'compiler handbook', 19.99),
        ('Edsger Dijkstra', 'shortest-path atlas', 7.50);
    `);
  } finally {
    await owner.end();
  }
  return demo;
}
