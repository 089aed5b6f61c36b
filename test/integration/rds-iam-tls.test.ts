import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBinaries } from '../../src/embedded/postgres-binaries.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/embedded/start-embedded-postgres.js';
import { logLines, query } from '../support/integration-probes.js';
import { findLeaks, type Capture } from '../support/leak-check.js';
import { expectedRdsIamToken, parseRdsIamToken } from '../support/rds-iam-token.js';
import { startTestAgent, testAgentAwsCredentials, type TestAgent } from '../support/start-test-agent.js';
import { createRoleAndDatabase, type TestDatabase } from '../support/test-database.js';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates.js';

/**
 * Issue 14, section 3: auth "rds-iam" requires TLS. Every other rds-iam test uses the escape hatch,
 * since the shared embedded PostgreSQL has no TLS; this file starts a PostgreSQL of its own with
 * `ssl=on` and a certificate for 127.0.0.1 from a throw-away CA, and connects to it through the agent.
 */

const region = 'eu-west-1';
const caFile = 'certs/test-ca.pem';
const rotatingCaFile = 'certs/rotating-ca.pem';

/** An rds-iam integration on fixed fields (no workflow): where, as whom, and `ssl` as given. */
function iamIntegration(name: string, db: TestDatabase, ssl?: unknown): Record<string, unknown> {
  return {
    name,
    kind: 'postgres',
    connection: {
      host: db.host,
      port: db.port,
      database: db.dbname,
      user: db.username,
      ...(ssl === undefined ? {} : { ssl }),
      auth: { type: 'rds-iam', region },
    },
  };
}

/**
 * The server's key and certificate in a folder of their own, owned by the user PostgreSQL runs as
 * (the `postgres` system user when the tests run as root): PostgreSQL refuses a key file that others
 * may read, or that its user does not own.
 */
async function writeServerFiles(certs: TestCertificates): Promise<{ dir: string; key: string; cert: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-pgtls-'));
  const key = path.join(dir, 'server.key');
  const cert = path.join(dir, 'server.pem');
  await writeFile(key, certs.key, { mode: 0o600 });
  await writeFile(cert, certs.cert, { mode: 0o644 });
  const { runAs } = await postgresBinaries();
  if (runAs) for (const target of [dir, key, cert]) await chown(target, runAs.uid, runAs.gid);
  return { dir, key, cert };
}

describe('RDS IAM over TLS, against a PostgreSQL of its own with ssl=on', () => {
  let certs: TestCertificates;
  let serverFiles: { dir: string; key: string; cert: string };
  let server: EmbeddedPostgresHandle;
  let db: TestDatabase;
  let plaintextDb: TestDatabase;
  let t: TestAgent;
  const tokens: string[] = [];

  const signedLines = () => logLines(t).filter((l) => l.event === 'rds_iam.token');
  const asServerSuperuser = async <T>(use: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      database: 'postgres',
    });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  };
  const reload = () => t.request('POST', '/api/v1/reload', {});

  beforeAll(async () => {
    // A second CA, unrelated to the server's certificate, for a CA file that trusts the wrong one.
    const [serverCerts, otherCerts] = await Promise.all([makeTestCertificates(), makeTestCertificates()]);
    certs = serverCerts;
    serverFiles = await writeServerFiles(certs);
    server = await startEmbeddedPostgres({
      extraFlags: ['-c', 'ssl=on', '-c', `ssl_cert_file=${serverFiles.cert}`, '-c', `ssl_key_file=${serverFiles.key}`],
    });
    // The role's password is set to the agent's token below; until then no one knows it.
    db = await createRoleAndDatabase(server, 'tls', `Tls-${randomBytes(12).toString('base64url')}`);
    plaintextDb = await createRoleAndDatabase(
      inject('postgres'),
      'plain',
      `Pl-${randomBytes(12).toString('base64url')}`,
    );
    t = await startTestAgent(
      {
        integrations: {
          verified: iamIntegration('verified', db, { caFile }),
          untrusted: iamIntegration('untrusted', db),
          rotating: iamIntegration('rotating', db, { caFile: rotatingCaFile }),
          plaintext: iamIntegration('plaintext', plaintextDb),
        },
        files: { [caFile]: certs.ca, [rotatingCaFile]: otherCerts.ca },
      },
      {},
      { watch: false, moreSecrets: () => tokens },
    );
  });

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await server?.stop();
      if (serverFiles) await rm(serverFiles.dir, { recursive: true, force: true });
    }
  });

  it('connects with ssl.caFile over verified TLS, as PostgreSQL itself reports (pg_stat_ssl)', async () => {
    // The handshake succeeds and the server asks for a password: the agent signs a token, which is
    // not the role's password yet.
    const refused = await query(t, 'verified', 'SELECT 1');
    expect(refused.body.error?.code).toBe('DB_AUTH_FAILED');
    expect(signedLines()).toHaveLength(1);
    const line = signedLines()[0];
    expect(line).toMatchObject({ host: db.host, port: db.port, user: db.username, region });
    const token = expectedRdsIamToken({
      host: db.host,
      port: db.port,
      user: db.username,
      region,
      amzDate: line?.signedAt as string,
      ...testAgentAwsCredentials,
    });
    tokens.push(token);
    await asServerSuperuser((c) => c.query(`ALTER ROLE "${db.username}" PASSWORD ${c.escapeLiteral(token)}`));

    const ok = await query(
      t,
      'verified',
      'SELECT current_user AS who, ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
    );
    expect(ok.status).toBe(200);
    expect(ok.body.rows).toEqual([{ who: db.username, ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) }]);
    // The agent's token opened that connection: it reused the one it signed.
    expect(signedLines()).toHaveLength(1);
  });

  it("refuses a server whose certificate Node's trust store does not vouch for, before any token is signed", async () => {
    const refused = await query(t, 'untrusted', 'SELECT 1');
    expect(refused.status).toBe(502);
    expect(refused.body.error.code).toBe('DB_CONNECT_FAILED');
    expect(refused.body.error.message).toMatch(/^integration "untrusted": could not connect to the database: /);
    expect(refused.body.error.message).toMatch(/TLS certificate is not trusted/);
    expect(refused.body.error.message).toMatch(/ssl\.caFile/);
    expect(refused.body.error.message).toMatch(/NODE_EXTRA_CA_CERTS/);
    expect(refused.body.error.details).toMatchObject({ integration: 'untrusted', errorCode: expect.any(String) });
    expect(signedLines()).toHaveLength(1);
  });

  it('reads the CA file again on reload: a file that trusted the wrong CA, once corrected, connects', async () => {
    const wrongCa = await query(t, 'rotating', 'SELECT 1');
    expect(wrongCa.body.error?.code).toBe('DB_CONNECT_FAILED');
    expect(wrongCa.body.error.message).toMatch(/TLS certificate is not trusted/);

    await writeFile(path.join(t.dir, rotatingCaFile), certs.ca);
    const reloaded = await reload();
    expect(reloaded.status).toBe(200);
    expect(reloaded.body.integrations).toMatchObject({ changed: ['rotating'] });
    const ok = await query(t, 'rotating', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(ok.status).toBe(200);
    expect(ok.body.rows).toEqual([{ ssl: true }]);
    expect(signedLines()).toHaveLength(1);
  });

  it('refuses at validation an rds-iam integration that skips verification, or whose CA file is missing, naming file and field', async () => {
    await writeFile(
      path.join(t.dir, 'integrations', 'unverified.json'),
      JSON.stringify(iamIntegration('unverified', db, { rejectUnauthorized: false })),
    );
    await writeFile(
      path.join(t.dir, 'integrations', 'missing-ca.json'),
      JSON.stringify(iamIntegration('missing-ca', db, { caFile: 'certs/none.pem' })),
    );
    try {
      const refused = await reload();
      expect(refused.status).toBe(422);
      expect(refused.body.error.code).toBe('CONFIG_RELOAD_INVALID');
      expect(refused.body.error.details.problems).toEqual([
        expect.stringMatching(
          /^integrations\/missing-ca\.json: connection\.ssl\.caFile: certs\/none\.pem \(.*certs\/none\.pem\): file not found$/,
        ),
        expect.stringMatching(
          /^integrations\/unverified\.json: connection\.ssl: .*needs a verified server certificate/,
        ),
      ]);
    } finally {
      await rm(path.join(t.dir, 'integrations', 'unverified.json'));
      await rm(path.join(t.dir, 'integrations', 'missing-ca.json'));
    }
    // The last good configuration is still served.
    expect((await query(t, 'verified', 'SELECT 1 AS one')).body.rows).toEqual([{ one: 1 }]);
  });

  it('refuses a server without TLS (the shared embedded PostgreSQL), saying so, before any token is signed', async () => {
    const refused = await query(t, 'plaintext', 'SELECT 1');
    expect(refused.status).toBe(502);
    expect(refused.body.error.code).toBe('DB_CONNECT_FAILED');
    expect(refused.body.error.message).toMatch(
      /^integration "plaintext": could not connect to the database: the server does not support TLS/,
    );
    expect(signedLines()).toHaveLength(1);
  });

  it('never shows the token or its signature: not in logs, errors or responses', () => {
    const secrets = tokens.flatMap((token) => [token, parseRdsIamToken(token).params['X-Amz-Signature'] as string]);
    expect(secrets).toHaveLength(2);
    const captures: Capture[] = [
      ...t.logs.lines.map((text, i) => ({ where: `log line ${i}`, text })),
      ...t.bodies.map((text, i) => ({ where: `response ${i}`, text })),
    ];
    expect(findLeaks(captures, secrets)).toEqual([]);
  });
});
