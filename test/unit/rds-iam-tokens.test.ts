import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCredflowError } from '../../src/errors.js';
import { MASK, SecretMasker } from '../../src/masking/index.js';
import { RdsIamTokens } from '../../src/secrets/index.js';
import { captureLogs } from '../support/capture-logs.js';
import { expectedRdsIamToken, parseRdsIamToken } from '../support/rds-iam-token.js';

const credentials = { accessKeyId: 'AKIDRDSIAMTEST', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const target = { hostname: 'orders.abc123.eu-west-1.rds.amazonaws.com', port: 5432, username: 'orders_app' };

function tokens(options: { now?: () => number; reuseMs?: number } = {}) {
  const logs = captureLogs();
  const masker = new SecretMasker();
  const source = new RdsIamTokens({
    credentials,
    reuseMs: options.reuseMs ?? 600_000,
    masker,
    logger: pino({ level: 'info' }, logs),
    ...(options.now ? { now: options.now } : {}),
  });
  const signed = () => logs.lines.filter((line) => line.includes('"rds_iam.token"')).map((l) => JSON.parse(l));
  return { source, masker, logs, signed };
}

describe('RdsIamTokens', () => {
  const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
  beforeEach(() => {
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved))
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
  });

  it('signs a connect URL for the host, port and user, valid 900 s, whose SigV4 signature checks out', async () => {
    const { source } = tokens();
    const token = await source.token({ ...target, region: 'eu-west-1' });
    const { host, port, params } = parseRdsIamToken(token);
    expect(host).toBe(target.hostname);
    expect(port).toBe('5432');
    expect(params.Action).toBe('connect');
    expect(params.DBUser).toBe('orders_app');
    expect(params['X-Amz-Expires']).toBe('900');
    expect(params['X-Amz-SignedHeaders']).toBe('host');
    expect(params['X-Amz-Algorithm']).toBe('AWS4-HMAC-SHA256');
    const amzDate = params['X-Amz-Date'] as string;
    expect(amzDate).toMatch(/^\d{8}T\d{6}Z$/);
    expect(params['X-Amz-Credential']).toBe(`AKIDRDSIAMTEST/${amzDate.slice(0, 8)}/eu-west-1/rds-db/aws4_request`);
    // Recomputed from SigV4's definition with the secret key: the same token, signature and all.
    expect(token).toBe(
      expectedRdsIamToken({
        host: target.hostname,
        port: 5432,
        user: 'orders_app',
        region: 'eu-west-1',
        amzDate,
        ...credentials,
      }),
    );
  });

  it('masks each token it signs, and its signature, and logs only where and when it signed', async () => {
    const { source, masker, logs } = tokens();
    const token = await source.token({ ...target, region: 'eu-west-1' });
    const signature = parseRdsIamToken(token).params['X-Amz-Signature'] as string;
    expect(masker.mask(`password ${token} refused`)).toBe(`password ${MASK} refused`);
    expect(masker.mask(`sig=${signature}`)).toBe(`sig=${MASK}`);
    expect(logs.text()).not.toContain(signature);
    expect(logs.text()).toContain('"signedAt"');
  });

  it('signs once for connections asking together, and reuses the token inside the reuse window only', async () => {
    let now = 1_000_000;
    const { source, signed } = tokens({ now: () => now, reuseMs: 60_000 });
    const together = await Promise.all(
      Array.from({ length: 10 }, () => source.token({ ...target, region: 'eu-west-1' })),
    );
    expect(new Set(together).size).toBe(1);
    expect(signed()).toHaveLength(1);
    now += 59_999;
    expect(await source.token({ ...target, region: 'eu-west-1' })).toBe(together[0]);
    expect(signed()).toHaveLength(1);
    now += 1;
    await source.token({ ...target, region: 'eu-west-1' });
    expect(signed()).toHaveLength(2);
  });

  it('keeps one token per host, port, user and region', async () => {
    const { source, signed } = tokens();
    await source.token({ ...target, region: 'eu-west-1' });
    await source.token({ ...target, region: 'us-east-1' });
    await source.token({ ...target, username: 'reporting', region: 'eu-west-1' });
    await source.token({ ...target, port: 6432, region: 'eu-west-1' });
    await source.token({ ...target, region: 'eu-west-1' });
    expect(signed()).toHaveLength(4);
  });

  it('takes the region from AWS_REGION when the integration names none, and says what to set when nothing does', async () => {
    const { source } = tokens();
    const refused = (() => {
      try {
        void source.token(target);
        return undefined;
      } catch (error) {
        return error;
      }
    })();
    expect(isCredflowError(refused) && refused.code).toBe('CONNECTION_INVALID');
    expect((refused as Error).message).toContain('connection.auth.region');
    process.env.AWS_REGION = 'ap-southeast-2';
    const token = await source.token(target);
    expect(parseRdsIamToken(token).params['X-Amz-Credential']).toContain('/ap-southeast-2/rds-db/aws4_request');
  });
});
