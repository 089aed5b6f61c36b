import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretsWorkflow } from '../support/config-dir.js';
import { logLines, query } from '../support/integration-probes.js';
import { expectedRdsIamToken, parseRdsIamToken } from '../support/rds-iam-token.js';
import { roleArnOf } from '../../src/local-secrets-manager/index.js';
import { startTestAgent, testAgentAwsCredentials, type TestAgent } from '../support/start-test-agent.js';
import { asSuperuser, createTestDatabase, type TestDatabase } from '../support/test-database.js';

const INSECURE = 'insecure-plaintext-for-tests-only';
const region = 'eu-west-1';
const connector = 'db-connect';
const other = 'db-connect-other';
const partner = 'db-partner';
const partnerExternalId = 'partner-ext-7731';

/** An integration whose token is signed as `auth` says: where and as whom come from the secret. */
function iamIntegration(name: string, auth: Record<string, unknown>): Record<string, unknown> {
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
      auth: { type: 'rds-iam', region: '<<getSecrets.response.region>>', tls: INSECURE, ...auth },
    },
  };
}

describe('RDS IAM authentication as an assumed role (auth.roleArn)', () => {
  let db: TestDatabase;
  let t: TestAgent;

  const signedLines = () => logLines(t).filter((l) => l.event === 'rds_iam.token');
  /** The temporary credentials the local STS minted for `role`, newest last. */
  const sessionsOf = (role: string) => t.secrets.sessions.filter((s) => s.roleArn === roleArnOf(role));
  /** The token of the agent's `index`th rds_iam.token line, recomputed with the keys minted for its role. */
  const roleTokenOfLine = (index: number): string => {
    const line = signedLines()[index];
    const session = t.secrets.sessions.find((s) => s.roleArn === line?.roleArn);
    expect(session).toBeDefined();
    return expectedRdsIamToken({
      host: db.host,
      port: db.port,
      user: db.username,
      region,
      amzDate: line?.signedAt as string,
      accessKeyId: session?.accessKeyId as string,
      secretAccessKey: session?.secretAccessKey as string,
      sessionToken: session?.sessionToken,
    });
  };
  const setRolePassword = (password: string) =>
    asSuperuser((c) => c.query(`ALTER ROLE "${db.username}" PASSWORD '${password.replace(/'/g, "''")}'`));

  beforeAll(async () => {
    db = await createTestDatabase('rdsiamrole');
    t = await startTestAgent(
      {
        workflows: { getSecrets: secretsWorkflow('getSecrets', 'iamSecret') },
        integrations: {
          asRole: iamIntegration('asRole', { roleArn: roleArnOf(connector) }),
          asOther: iamIntegration('asOther', { roleArn: roleArnOf(other) }),
          // The role and external id are templates too, rendered from the secret.
          asPartner: iamIntegration('asPartner', {
            roleArn: '<<getSecrets.response.partnerRole>>',
            externalId: '<<getSecrets.response.partnerExternalId>>',
          }),
          partnerNoExternalId: iamIntegration('partnerNoExternalId', { roleArn: roleArnOf(partner) }),
          notTrusted: iamIntegration('notTrusted', { roleArn: roleArnOf('db-admin') }),
        },
      },
      {},
      { assumeRoleDurationSeconds: 900 },
    );
    // Roles that read no secret: they only sign tokens. 'db-admin' trusts another caller than the agent.
    t.secrets.defineRole({ name: connector, secrets: [] });
    t.secrets.defineRole({ name: other, secrets: [] });
    t.secrets.defineRole({ name: partner, secrets: [], externalId: partnerExternalId });
    t.secrets.defineRole({ name: 'db-admin', secrets: [], trusted: ['AKIDSOMEONEELSE'] });
    t.secrets.createSecret('iamSecret', {
      SecretString: JSON.stringify({
        host: db.host,
        port: db.port,
        username: db.username,
        dbname: db.dbname,
        region,
        partnerRole: roleArnOf(partner),
        partnerExternalId,
      }),
    });
  });

  afterAll(async () => {
    // close() also searches every log line and response for the minted secret keys and session tokens.
    await t?.close();
  });

  it("signs with the role's temporary credentials: its ASIA key and session token are in the token, and the database accepts it", async () => {
    const refused = await query(t, 'asRole', 'SELECT 1');
    expect(refused.body.error?.code).toBe('DB_AUTH_FAILED');
    expect(signedLines()).toHaveLength(1);
    expect(signedLines()[0]).toMatchObject({ roleArn: roleArnOf(connector), user: db.username, region });
    const [session] = sessionsOf(connector);
    expect(session?.accessKeyId).toMatch(/^ASIA/);

    const token = roleTokenOfLine(0);
    const { params } = parseRdsIamToken(token);
    expect(params['X-Amz-Credential']).toMatch(
      new RegExp(`^${session?.accessKeyId}/\\d{8}/${region}/rds-db/aws4_request$`),
    );
    expect(params['X-Amz-Security-Token']).toBe(session?.sessionToken);
    // The token recomputed with the role's keys is the one the agent sends: as the password, it gets in.
    await setRolePassword(token);
    const ok = await query(t, 'asRole', 'SELECT current_user AS who');
    expect(ok.status).toBe(200);
    expect(ok.body.rows).toEqual([{ who: db.username }]);
    // One AssumeRole, one token: both reused.
    expect(sessionsOf(connector)).toHaveLength(1);
    expect(signedLines()).toHaveLength(1);
  });

  it("never shares a token between roles: the same host, port, user and region as another role gets its own, signed with that role's keys", async () => {
    // A token signed with the agent's own key would not be the role's password either: only the role's key gets in.
    const agentToken = expectedRdsIamToken({
      host: db.host,
      port: db.port,
      user: db.username,
      region,
      amzDate: signedLines()[0]?.signedAt as string,
      ...testAgentAwsCredentials,
    });
    expect(agentToken).not.toBe(roleTokenOfLine(0));

    const refused = await query(t, 'asOther', 'SELECT 1');
    expect(refused.body.error?.code).toBe('DB_AUTH_FAILED');
    expect(signedLines()).toHaveLength(2);
    expect(signedLines()[1]).toMatchObject({ roleArn: roleArnOf(other) });
    expect(sessionsOf(other)).toHaveLength(1);
    const otherToken = roleTokenOfLine(1);
    expect(parseRdsIamToken(otherToken).params['X-Amz-Credential']).toContain(`${sessionsOf(other)[0]?.accessKeyId}/`);
    await setRolePassword(otherToken);
    expect((await query(t, 'asOther', 'SELECT 1 AS one')).status).toBe(200);
  });

  it('passes the external id (rendered from a template) to AssumeRole; without it, the role is refused', async () => {
    const refused = await query(t, 'asPartner', 'SELECT 1');
    expect(refused.body.error?.code).toBe('DB_AUTH_FAILED');
    expect(sessionsOf(partner)).toHaveLength(1);
    const line = signedLines().at(-1);
    expect(line).toMatchObject({ roleArn: roleArnOf(partner) });
    await setRolePassword(roleTokenOfLine(signedLines().length - 1));
    expect((await query(t, 'asPartner', 'SELECT 1 AS one')).status).toBe(200);

    const denied = await query(t, 'partnerNoExternalId', 'SELECT 1');
    expect(denied.status).toBe(502);
    expect(denied.body.error.code).toBe('DB_CONNECT_FAILED');
    expect(denied.body.error.message).toContain('integration "partnerNoExternalId"');
    expect(denied.body.error.message).toContain('AccessDenied');
  });

  it('fails the connection with DB_CONNECT_FAILED naming the integration and AccessDenied when the agent may not assume the role, with no key in the text', async () => {
    const before = signedLines().length;
    const denied = await query(t, 'notTrusted', 'SELECT 1');
    expect(denied.status).toBe(502);
    expect(denied.body.error.code).toBe('DB_CONNECT_FAILED');
    expect(denied.body.error.message).toContain('integration "notTrusted"');
    expect(denied.body.error.message).toContain(roleArnOf('db-admin'));
    expect(denied.body.error.message).toMatch(/AccessDenied/);
    const text = JSON.stringify(denied.body);
    expect(text).not.toContain(testAgentAwsCredentials.secretAccessKey);
    for (const s of t.secrets.sessions) {
      expect(text).not.toContain(s.secretAccessKey);
      expect(text).not.toContain(s.sessionToken);
    }
    expect(sessionsOf('db-admin')).toHaveLength(0);
    expect(signedLines()).toHaveLength(before);
  });
});

describe("RDS IAM tokens signed by a role are not reused past the role's credentials", () => {
  let db: TestDatabase;
  let t: TestAgent;

  beforeAll(async () => {
    db = await createTestDatabase('rdsiamshort');
    // Credentials of 2 seconds (the test STS's floor is 1): well inside the 600 s a token is otherwise reused.
    t = await startTestAgent(
      {
        workflows: { getSecrets: secretsWorkflow('getSecrets', 'iamSecret') },
        integrations: { asRole: iamIntegration('asRole', { roleArn: roleArnOf(connector) }) },
      },
      {},
      { assumeRoleDurationSeconds: 2 },
    );
    t.secrets.defineRole({ name: connector, secrets: [] });
    t.secrets.createSecret('iamSecret', {
      SecretString: JSON.stringify({ host: db.host, port: db.port, username: db.username, dbname: db.dbname, region }),
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('signs a new token with newly assumed credentials once the old ones expire', async () => {
    const signed = () => logLines(t).filter((l) => l.event === 'rds_iam.token');
    expect((await query(t, 'asRole', 'SELECT 1')).body.error?.code).toBe('DB_AUTH_FAILED');
    expect(signed()).toHaveLength(1);
    const [first] = t.secrets.sessions;
    // AWS would refuse a token whose credentials have expired: wait for that moment to pass.
    while (Date.now() <= (first?.expiresAt ?? 0)) await sleep(50);

    expect((await query(t, 'asRole', 'SELECT 1')).body.error?.code).toBe('DB_AUTH_FAILED');
    expect(signed()).toHaveLength(2);
    expect(t.secrets.sessions).toHaveLength(2);
    const second = t.secrets.sessions[1];
    expect(second?.accessKeyId).not.toBe(first?.accessKeyId);
    const token = expectedRdsIamToken({
      host: db.host,
      port: db.port,
      user: db.username,
      region,
      amzDate: signed()[1]?.signedAt as string,
      accessKeyId: second?.accessKeyId as string,
      secretAccessKey: second?.secretAccessKey as string,
      sessionToken: second?.sessionToken,
    });
    await asSuperuser((c) => c.query(`ALTER ROLE "${db.username}" PASSWORD '${token.replace(/'/g, "''")}'`));
    expect((await query(t, 'asRole', 'SELECT 1 AS one')).status).toBe(200);
  });
});
