import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow, type ConfigFiles } from '../support/config-dir.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * Issue 19, section 5 (floods and slow clients) and the profile rule of section 6, against the real
 * server on a real port: caller text cut in log lines, failed authentications limited per client
 * address, request timeouts on a slow body, the connection cap, and `?profile=` on workflow runs.
 */

const config: ConfigFiles = {
  workflows: {
    getSecrets: secretsWorkflow('getSecrets', 'floodSecret'),
    whichProfile: { name: 'whichProfile', steps: [{ name: 'echo', code: 'return { profile: context.profile };' }] },
    profiledWf: { name: 'profiledWf', steps: [{ name: 'echo', code: 'return { profile: context.profile };' }] },
  },
  integrations: {
    orders: postgresIntegration('orders', 'getSecrets'),
    profiled: {
      ...postgresIntegration('profiled', 'profiledWf'),
      fetchCredentialsDynamically: { enabled: true, workflow: 'profiledWf', profiles: { staging: {}, production: {} } },
    },
  },
};

const rdsSecret = (db: TestDatabase) => ({
  SecretString: JSON.stringify({
    engine: 'postgres',
    host: db.host,
    port: db.port,
    username: db.username,
    password: db.password,
    dbname: db.dbname,
  }),
});

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** A request from a chosen local address (127.0.0.0/8 is all loopback), over `agent` when given. */
function requestFrom(
  t: TestAgent,
  options: { path: string; token?: string; localAddress?: string; agent?: http.Agent; method?: string; body?: string },
): Promise<RawAnswer> {
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: options.path,
        method: options.method ?? 'GET',
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        ...(options.agent ? { agent: options.agent } : {}),
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const logLines = (t: TestAgent): Record<string, unknown>[] =>
  t.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);

/** Connects a raw socket and resolves once it is connected. */
function connect(t: TestAgent): Promise<net.Socket> {
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything a socket receives until the server closes it. */
function untilClosed(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    // A reset is a close too; what counts is that the server let go.
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(received));
  });
}

const metric = (text: string, name: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
};

describe('issue 19: caller text in log lines and failed authentications per address', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent(config, {
      CREDFLOW_HTTP_AUTH_FAILURE_LIMIT: '3',
      CREDFLOW_HTTP_AUTH_FAILURE_WINDOW_SECONDS: '600',
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('cuts a 15 KB path to 256 characters in the 401 audit line and says how much was cut', async () => {
    const path = `/api/v1/integrations/${'x'.repeat(15_000)}/query`;
    const res = await requestFrom(t, {
      path,
      token: 'wrong-token-0123456789abcdef',
      localAddress: '127.0.0.9',
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(401);
    const denied = logLines(t).filter((l) => l.event === 'audit' && l.outcome === 'unauthorized');
    expect(denied).toHaveLength(1);
    const route = String(denied[0]?.route);
    expect(route).toBe(`POST ${path.slice(0, 256)}…(+${path.length - 256} chars)`);
    expect(Math.max(...t.logs.lines.map((l) => l.length))).toBeLessThan(2_000);
  });

  it('answers 429 with Retry-After, without checking the token, once an address failed the limit, and keeps serving other addresses and accepted tokens', async () => {
    const from = '127.0.0.2';
    // This token is accepted once before the flood, the second one never is.
    expect((await requestFrom(t, { path: '/api/v1/workflows', token: t.token, localAddress: from })).status).toBe(200);
    const before = logLines(t).filter((l) => l.outcome === 'unauthorized').length;

    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1)
      statuses.push(
        (
          await requestFrom(t, {
            path: `/api/v1/workflows?n=${i}`,
            token: `wrong-token-${i}-0123456789`,
            localAddress: from,
          })
        ).status,
      );
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);

    const limited = await requestFrom(t, {
      path: '/api/v1/workflows',
      token: 'second-token-abcdef',
      localAddress: from,
    });
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.text).error.code).toBe('TOO_MANY_AUTH_FAILURES');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 600).toBe(true);
    expect(JSON.parse(limited.text).error.details.retryAfterSeconds).toBe(retryAfter);

    // Only the failures before the limit have a line each.
    expect(logLines(t).filter((l) => l.outcome === 'unauthorized').length - before).toBe(3);
    // A header already accepted still passes; another address is not affected.
    expect((await requestFrom(t, { path: '/api/v1/workflows', token: t.token, localAddress: from })).status).toBe(200);
    expect(
      (await requestFrom(t, { path: '/api/v1/workflows', token: 'second-token-abcdef', localAddress: '127.0.0.3' }))
        .status,
    ).toBe(200);
    expect(
      (await requestFrom(t, { path: '/api/v1/workflows', token: 'wrong-token-0123456789', localAddress: '127.0.0.3' }))
        .status,
    ).toBe(401);

    const metrics = await requestFrom(t, { path: '/metrics', token: t.token, localAddress: '127.0.0.4' });
    // 1 (the long path above) + 3 + 1 failures; 8 refusals.
    expect(metric(metrics.text, 'credflow_auth_failures_total')).toBe(5);
    expect(metric(metrics.text, 'credflow_auth_rate_limited_total')).toBe(8);
    expect(metric(metrics.text, 'credflow_auth_failure_addresses')).toBe(3);
  });

  it('writes one summary line per address and window instead of a line per refused request', async () => {
    await t.agent.close();
    const summaries = logLines(t).filter((l) => l.outcome === 'rate_limited');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toMatchObject({
      event: 'audit',
      action: 'access',
      address: '127.0.0.2',
      failures: 3,
      refused: 8,
    });
    expect(String(summaries[0]?.msg)).toMatch(
      /^8 requests from 127\.0\.0\.2 refused with 429 in the last \d+ s, after 3 failed authentications$/,
    );
  });
});

describe('issue 19: request timeouts', () => {
  let t: TestAgent;
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase('flood');
    t = await startTestAgent(config, {
      CREDFLOW_HTTP_REQUEST_TIMEOUT_MS: '400',
      CREDFLOW_HTTP_HEADERS_TIMEOUT_MS: '200',
    });
    t.secrets.createSecret('floodSecret', rdsSecret(db));
  });

  afterAll(async () => {
    await t?.close();
  });

  it('closes an authenticated request whose JSON body trickles in, with 408', async () => {
    const socket = await connect(t);
    const closed = untilClosed(socket);
    const body = JSON.stringify({ sql: 'SELECT 1' });
    socket.write(
      `POST /api/v1/integrations/orders/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    let sent = 0;
    const trickle = setInterval(() => {
      if (!socket.writable || sent >= body.length - 1) return;
      socket.write(body[sent++] ?? '');
    }, 50);
    const received = await closed;
    clearInterval(trickle);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent).toBeLessThan(body.length);
  });

  it('closes a connection that sends nothing', async () => {
    const socket = await connect(t);
    expect(await untilClosed(socket)).toMatch(/^(HTTP\/1\.1 408 |$)/);
  });

  it('does not cut a query that runs longer than the request timeout once its request has arrived', async () => {
    const res = await t.request('POST', '/api/v1/integrations/orders/query', { sql: 'SELECT pg_sleep(1) AS slept' });
    expect(res.status).toBe(200);
    expect(res.body.rowCount).toBe(1);
  });
});

describe('issue 19: the connection cap', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent(config, {
      CREDFLOW_HTTP_MAX_CONNECTIONS: '3',
      CREDFLOW_HTTP_KEEP_ALIVE_TIMEOUT_MS: '600000',
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('closes connections past CREDFLOW_HTTP_MAX_CONNECTIONS at once and serves the ones it holds', async () => {
    const held = [0, 1, 2].map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    try {
      for (const agent of held) expect((await requestFrom(t, { path: '/healthz', agent })).status).toBe(200);
      const extra = await connect(t);
      expect(await untilClosed(extra)).toBe('');
      const metrics = await requestFrom(t, { path: '/metrics', token: t.token, agent: held[0] });
      expect(metrics.status).toBe(200);
      expect(metric(metrics.text, 'credflow_http_connections_dropped_total')).toBe(1);
      expect(metric(metrics.text, 'credflow_http_connections')).toBe(3);
    } finally {
      for (const agent of held) agent.destroy();
    }
  });
});

describe('issue 19: ?profile= on workflow runs takes only accepted profiles', () => {
  let t: TestAgent;

  beforeAll(async () => {
    t = await startTestAgent(config, { CREDFLOW_PROFILES: 'qa' });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('answers 404 PROFILE_NOT_FOUND for a profile nothing accepts, runs nothing and audits the refusal', async () => {
    const res = await t.request('POST', '/api/v1/workflows/whichProfile/run?profile=zzz', {});
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('PROFILE_NOT_FOUND');
    expect(res.body.error.message).toBe('workflow "whichProfile" has no profile "zzz" (it accepts: default, qa)');
    expect(logLines(t).filter((l) => l.event === 'workflow.run')).toEqual([]);
    expect(logLines(t).filter((l) => l.event === 'audit' && l.action === 'preview')).toMatchObject([
      { workflow: 'whichProfile', profile: 'zzz', outcome: 'error', code: 'PROFILE_NOT_FOUND' },
    ]);
  });

  it('runs with the default, a CREDFLOW_PROFILES profile, or one declared by an integration using the workflow', async () => {
    for (const [workflow, profile] of [
      ['whichProfile', 'default'],
      ['whichProfile', 'qa'],
      ['profiledWf', 'staging'],
      ['profiledWf', 'qa'],
    ] as const) {
      const res = await t.request('POST', `/api/v1/workflows/${workflow}/run?profile=${profile}`, {});
      expect(res.status, `${workflow} ${profile}`).toBe(200);
      expect(res.body.response).toEqual({ profile });
    }
    const other = await t.request('POST', '/api/v1/workflows/whichProfile/run?profile=staging', {});
    expect(other.status).toBe(404);
    expect(other.body.error.message).toContain('(it accepts: default, qa)');
  });
});
