import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretsWorkflow } from '../support/config-dir.js';
import { logLines, query, status } from '../support/integration-probes.js';
import { findLeaks, type Capture } from '../support/leak-check.js';
import { amzDate, expectedRdsIamToken, parseRdsIamToken } from '../support/rds-iam-token.js';
import { startTestAgent, testAgentAwsCredentials, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

const INSECURE = 'insecure-plaintext-for-tests-only';
const region = 'eu-west-1';

/** An integration whose user, host and region come from the secret, and whose password is an RDS IAM token. */
function iamIntegration(name: string, tls?: string): Record<string, unknown> {
  return {
    name,
    kind: 'postgres',
    // No wait for a rotation: a refused token is the test's own doing, and fails at once.
    fetchCredentialsDynamically: { enabled: true, workflow: 'getSecrets', rotationWaitMs: 0 },
    connection: {
      host: '<<getSecrets.response.host>>',
      port: '<<getSecrets.response.port>>',
      database: '<<getSecrets.response.dbname>>',
      user: '<<getSecrets.response.username>>',
      auth: { type: 'rds-iam', region: '<<getSecrets.response.region>>', ...(tls ? { tls } : {}) },
    },
  };
}

async function eventually(check: () => Promise<boolean> | boolean, tries = 200, everyMs = 25): Promise<boolean> {
  for (let i = 0; i < tries; i += 1) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}

describe('RDS IAM authentication against the embedded PostgreSQL', () => {
  let db: TestDatabase;
  let t: TestAgent;
  // The clock by which the agent decides to sign anew; the test moves it past the reuse window.
  let skewMs = 0;
  const tokens: string[] = [];

  const signedLines = () => logLines(t).filter((l) => l.event === 'rds_iam.token');
  /** The token the agent signed in its `index`th rds_iam.token line, recomputed from SigV4 and the test's key. */
  const tokenOfLine = (index: number): string => {
    const line = signedLines()[index];
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
    return token;
  };
  const setRolePassword = (password: string) =>
    asSuperuser((c) => c.query(`ALTER ROLE "${db.username}" PASSWORD '${password.replace(/'/g, "''")}'`));
  const slowWithPid = 'SELECT pg_backend_pid() AS pid, pg_sleep(1) AS slept';
  const activeSlow = () =>
    asSuperuser(async (c) => {
      const r = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1 AND state = 'active'`, [
        slowWithPid,
      ]);
      return (r.rows[0] as { n: number }).n > 0;
    });

  beforeAll(async () => {
    db = await createTestDatabase('rdsiam');
    t = await startTestAgent(
      {
        workflows: { getSecrets: secretsWorkflow('getSecrets', 'iamSecret') },
        integrations: { iam: iamIntegration('iam', INSECURE), strict: iamIntegration('strict') },
      },
      {},
      { rdsIamNow: () => Date.now() + skewMs },
    );
    // No password in the secret: where, as whom, and the region.
    t.secrets.createSecret('iamSecret', {
      SecretString: JSON.stringify({ host: db.host, port: db.port, username: db.username, dbname: db.dbname, region }),
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('requires TLS unless the escape hatch is set: the embedded server has none, so the connection stops before any token is sent', async () => {
    const res = await query(t, 'strict', 'SELECT 1');
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('DB_CONNECT_FAILED');
    expect(res.body.error.message).toMatch(/SSL/i);
    expect(signedLines()).toHaveLength(0);
  });

  it('connects with the token the agent signs, which is the SigV4 presigned connect URL for the host, port and user', async () => {
    // The role's password is not a token yet: refused, but the agent has signed one (and says when).
    const refused = await query(t, 'iam', 'SELECT 1');
    expect(refused.status).toBe(502);
    expect(refused.body.error.code).toBe('DB_AUTH_FAILED');
    expect(signedLines()).toHaveLength(1);
    const token = tokenOfLine(0);
    const { host, port, params } = parseRdsIamToken(token);
    expect([host, port, params.Action, params.DBUser, params['X-Amz-Expires']]).toEqual([
      db.host,
      String(db.port),
      'connect',
      db.username,
      '900',
    ]);
    expect(params['X-Amz-Credential']).toMatch(new RegExp(`^AKIDAGENT/\\d{8}/${region}/rds-db/aws4_request$`));
    // The token computed here from the signing time and the secret key is the one the agent sends:
    // with it as the role's password, the agent's next connection (reusing its token) gets in.
    await setRolePassword(token);
    const ok = await query(t, 'iam', 'SELECT current_user AS who');
    expect(ok.status).toBe(200);
    expect(ok.body.rows).toEqual([{ who: db.username }]);
    expect(signedLines()).toHaveLength(1);
  });

  it('signs a new token past the reuse window without retiring the pool: a connection opened with the old one keeps serving', async () => {
    const firstSignedAt = signedLines()[0]?.signedAt as string;
    // A token is signed to the second: wait for the next one, so the new token differs.
    expect(await eventually(() => amzDate(Date.now()) !== firstSignedAt)).toBe(true);
    skewMs = 11 * 60_000;

    // The pool's one connection (opened with the first token) runs the slow query; the second query
    // needs a new connection, whose token is signed now and is not the role's password yet.
    const slow = query(t, 'iam', slowWithPid);
    expect(await eventually(activeSlow)).toBe(true);
    const refused = await query(t, 'iam', 'SELECT 2');
    expect(refused.body.error?.code).toBe('DB_AUTH_FAILED');
    const first = await slow;
    expect(first.status).toBe(200);
    expect(signedLines()).toHaveLength(2);
    expect(signedLines()[1]?.signedAt).not.toBe(firstSignedAt);

    await setRolePassword(tokenOfLine(1));
    // Again the old connection is busy, and a new one opens with the new token.
    const slowAgain = query(t, 'iam', slowWithPid);
    expect(await eventually(activeSlow)).toBe(true);
    const fresh = await query(t, 'iam', 'SELECT pg_backend_pid() AS pid');
    const again = await slowAgain;
    expect(fresh.status).toBe(200);
    expect(again.status).toBe(200);
    // The connection of the first token served both slow queries, across the new token.
    expect(again.body.rows[0].pid).toBe(first.body.rows[0].pid);
    expect(fresh.body.rows[0].pid).not.toBe(first.body.rows[0].pid);
    expect(signedLines()).toHaveLength(2);

    const lines = logLines(t);
    expect(lines.filter((l) => l.event === 'pool.retire')).toEqual([]);
    expect(lines.filter((l) => l.event === 'pool.create' && l.integration === 'iam')).toHaveLength(1);
    expect(lines.some((l) => l.event === 'rds_iam.insecure_tls' && l.integration === 'iam')).toBe(true);
    const pools = (await status(t, 'iam')).body.pools;
    expect(pools).toMatchObject({ draining: 0 });
  });

  it('never shows a token or its signature: not in logs, errors, status or test results', async () => {
    expect((await t.request('POST', '/api/v1/integrations/iam/test', {})).status).toBe(200);
    expect((await status(t, 'iam')).status).toBe(200);
    await t.request('GET', '/metrics');
    const secrets = tokens.flatMap((token) => [token, parseRdsIamToken(token).params['X-Amz-Signature'] as string]);
    expect(secrets.length).toBe(4);
    const captures: Capture[] = [
      ...t.logs.lines.map((text, i) => ({ where: `log line ${i}`, text })),
      ...t.bodies.map((text, i) => ({ where: `response ${i}`, text })),
    ];
    expect(findLeaks(captures, secrets)).toEqual([]);
  });
});
