import { describe, expect, it } from 'vitest';
import { loadConfig, parseResolvedConnection, type LoadedConfig } from '../../src/config/index.js';
import { secretsWorkflow, writeConfigDir } from '../support/config-dir.js';

async function loadConnection(connection: Record<string, unknown>): Promise<LoadedConfig> {
  const folder = await writeConfigDir({
    workflows: { getSecrets: secretsWorkflow() },
    integrations: {
      x: {
        name: 'x',
        kind: 'postgres',
        fetchCredentialsDynamically: { enabled: true, workflow: 'getSecrets' },
        connection,
      },
    },
  });
  try {
    return await loadConfig(folder.dir, {});
  } finally {
    await folder.remove();
  }
}

const fields = {
  host: '<<getSecrets.response.host>>',
  port: 5432,
  database: 'orders',
  user: '<<getSecrets.response.username>>',
};

describe('connection.auth "rds-iam" in an integration file', () => {
  it('accepts auth with a templated region and no password', async () => {
    const config = await loadConnection({
      ...fields,
      auth: { type: 'rds-iam', region: '<<getSecrets.response.region>>' },
    });
    expect(config.problems).toEqual([]);
  });

  it('refuses a password beside it, naming the file and field', async () => {
    const config = await loadConnection({ ...fields, password: 'x', auth: { type: 'rds-iam', region: 'eu-west-1' } });
    expect(config.problems).toEqual([expect.stringMatching(/^integrations\/x\.json: connection\.password: .*rds-iam/)]);
  });

  it('refuses ssl false, or an unverified certificate, without the escape hatch', async () => {
    const off = await loadConnection({ ...fields, ssl: false, auth: { type: 'rds-iam' } });
    expect(off.problems).toEqual([expect.stringMatching(/^integrations\/x\.json: connection\.ssl: .*needs TLS/)]);
    const unverified = await loadConnection({
      ...fields,
      ssl: { rejectUnauthorized: false },
      auth: { type: 'rds-iam' },
    });
    expect(unverified.problems).toEqual([
      expect.stringMatching(/^integrations\/x\.json: connection\.ssl: .*verified server certificate/),
    ]);
    const hatch = await loadConnection({
      ...fields,
      ssl: false,
      auth: { type: 'rds-iam', tls: 'insecure-plaintext-for-tests-only' },
    });
    expect(hatch.problems).toEqual([]);
  });

  it('takes only the one literal as the escape hatch, never a template', async () => {
    for (const tls of ['insecure', 'disable', '<<getSecrets.response.tls>>', true]) {
      const config = await loadConnection({ ...fields, auth: { type: 'rds-iam', tls } });
      expect(config.problems).toEqual([expect.stringMatching(/^integrations\/x\.json: connection\.auth\.tls: /)]);
    }
  });

  it('refuses a connectionString, an unknown auth type and unknown auth fields', async () => {
    const uri = await loadConnection({ connectionString: 'postgres://u@h/d', auth: { type: 'rds-iam' } });
    expect(uri.problems).toContainEqual(
      expect.stringMatching(/^integrations\/x\.json: connection\.connectionString: /),
    );
    const kind = await loadConnection({ ...fields, auth: { type: 'kerberos' } });
    expect(kind.problems).toEqual([expect.stringMatching(/^integrations\/x\.json: connection\.auth\.type: .*rds-iam/)]);
    const extra = await loadConnection({ ...fields, auth: { type: 'rds-iam', profile: 'prod' } });
    expect(extra.problems).toEqual([expect.stringMatching(/^integrations\/x\.json: connection\.auth: .*profile/)]);
  });

  it('takes a roleArn and externalId, written or templated, and names a malformed one', async () => {
    const templated = await loadConnection({
      ...fields,
      auth: {
        type: 'rds-iam',
        roleArn: '<<getSecrets.response.roleArn>>',
        externalId: '<<getSecrets.response.externalId>>',
      },
    });
    expect(templated.problems).toEqual([]);
    const written = await loadConnection({
      ...fields,
      auth: { type: 'rds-iam', roleArn: 'arn:aws:iam::123456789012:role/db-connect', externalId: 'ext-42' },
    });
    expect(written.problems).toEqual([]);
    const malformed = await loadConnection({ ...fields, auth: { type: 'rds-iam', roleArn: 'arn:aws:iam::1:role/r' } });
    expect(malformed.problems).toEqual([
      expect.stringMatching(/^integrations\/x\.json: connection\.auth\.roleArn: must be an IAM role ARN/),
    ]);
    const lone = await loadConnection({ ...fields, auth: { type: 'rds-iam', externalId: 'ext-42' } });
    expect(lone.problems).toEqual([
      expect.stringMatching(/^integrations\/x\.json: connection\.auth\.externalId: only applies with auth\.roleArn/),
    ]);
  });
});

describe('a rendered rds-iam connection', () => {
  const rendered = { host: 'db.example', port: '5432', database: 'd', user: 'u' };

  it('gets verified TLS when ssl is left out', () => {
    const parsed = parseResolvedConnection({ ...rendered, auth: { type: 'rds-iam', region: 'eu-west-1' } });
    expect(parsed.success && parsed.data.ssl).toEqual({ rejectUnauthorized: true });
  });

  it('is refused when a template turned ssl off, or the region is not a region', () => {
    const off = parseResolvedConnection({ ...rendered, ssl: 'false', auth: { type: 'rds-iam' } });
    expect(off.success).toBe(false);
    expect(off.error?.issues[0]?.path).toEqual(['ssl']);
    const region = parseResolvedConnection({ ...rendered, auth: { type: 'rds-iam', region: 'eu west' } });
    expect(region.error?.issues[0]?.path).toEqual(['auth', 'region']);
  });

  it('keeps ssl as written under the escape hatch', () => {
    const parsed = parseResolvedConnection({
      ...rendered,
      auth: { type: 'rds-iam', tls: 'insecure-plaintext-for-tests-only' },
    });
    expect(parsed.success && parsed.data.ssl).toBe(false);
  });
});
