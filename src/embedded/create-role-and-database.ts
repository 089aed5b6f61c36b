import pg from 'pg';

/** A PostgreSQL server and a superuser of it. */
export interface SuperuserConnection {
  host: string;
  port: number;
  user: string;
  password: string;
}

const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * Creates a role that logs in with `password` and a database it owns, connected as the server's
 * superuser. The names are the caller's own identifiers (never user input); the password is quoted
 * as an SQL literal.
 */
export async function createRoleAndDatabase(
  server: SuperuserConnection,
  db: { dbname: string; username: string; password: string },
): Promise<void> {
  const admin = new pg.Client({
    host: server.host,
    port: server.port,
    user: server.user,
    password: server.password,
    database: 'postgres',
  });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE ${db.username} LOGIN PASSWORD ${quoteLiteral(db.password)}`);
    await admin.query(`CREATE DATABASE ${db.dbname} OWNER ${db.username}`);
  } finally {
    await admin.end();
  }
}
