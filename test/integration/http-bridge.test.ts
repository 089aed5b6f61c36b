import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASK } from '../../src/masking/index.js';
import type { Resolver } from '../../src/secrets/index.js';
import { postgresIntegration } from '../support/config-dir.js';
import { startLocalHttpApi, type LocalHttpApi } from '../support/local-http-api.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const shipped = (file: string) => readFileSync(path.join(import.meta.dirname, '../../workflows', file), 'utf8');

const dopplerToken = 'dp.st.prd.Xq7Lm2Vn9Rt4Kw8Zs3Hb6Jd1Fg5Pc0Ye';

/** Names the tests resolve: real checks against the addresses they stand for. */
const names: Record<string, string[]> = {
  'rebind.test': ['127.0.0.1'],
  'metadata.test': ['169.254.169.254'],
  'mixed.test': ['10.20.30.40', '127.0.0.1'],
};
const resolver: Resolver = async (hostname) => {
  // A resolver that never answers: the call's time bound covers name resolution too.
  if (hostname === 'hang.test') return new Promise(() => undefined);
  const addresses = names[hostname];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

/** A workflow that fetches params.url and answers what came back, or the error's name and message. */
const probe = (name: string, allowedHosts: string[] | undefined, extra: Record<string, unknown> = {}) => ({
  name,
  ...(allowedHosts ? { allowedHosts } : {}),
  ...extra,
  steps: [
    {
      name: 'fetch',
      code: `try {
        const r = await http.fetch(params.url, params.options);
        return { status: r.status, bytes: r.body.length, redirected: r.redirected, url: r.url, body: r.body };
      } catch (e) { return { error: e.name, message: e.message }; }`,
    },
  ],
});

describe('http.fetch reaches the origins a workflow allows, and nothing else (issue 14, section 5)', () => {
  let api: LocalHttpApi;
  let other: LocalHttpApi;
  let db: TestDatabase;
  let t: TestAgent;
  let secrets: Record<string, string>;
  const run = async (workflow: string, params: Record<string, unknown> = {}) => {
    const res = await t.request('POST', `/api/v1/workflows/${workflow}/run`, { params });
    return res.body.response as Record<string, unknown>;
  };

  beforeAll(async () => {
    db = await createTestDatabase('httpb');
    secrets = {
      DB_HOST: db.host,
      DB_PORT: String(db.port),
      DB_NAME: db.dbname,
      DB_USER: db.username,
      DB_PASSWORD: db.password,
    };
    api = await startLocalHttpApi({ token: dopplerToken, secrets });
    other = await startLocalHttpApi({ token: 'unused-token-value', secrets: {} });
    const doppler = JSON.parse(shipped('getDopplerSecrets.json'));
    t = await startTestAgent(
      {
        workflows: {
          getDopplerSecrets: {
            ...doppler,
            allowedHosts: [api.url],
            params: { ...doppler.params, dopplerUrl: api.url },
          },
          probe: probe('probe', [
            api.url,
            `http://rebind.test:${api.port}`,
            'http://metadata.test',
            `http://mixed.test:${api.port}`,
            'http://hang.test',
          ]),
          noHosts: probe('noHosts', undefined),
          twoOrigins: probe('twoOrigins', [api.url, other.url]),
          budget: {
            name: 'budget',
            allowedHosts: [api.url],
            limits: { maxBridgeCalls: 2 },
            steps: [
              {
                name: 'fetch',
                code: `const seen = [];
                  for (let i = 0; i < 3; i++) {
                    try { seen.push((await http.fetch(params.url)).status); } catch (e) { seen.push(e.name); }
                  }
                  return { seen };`,
              },
            ],
          },
          chatty: {
            name: 'chatty',
            allowedHosts: [api.url],
            steps: [
              {
                name: 'fetch',
                code: `const auth = 'Bearer ' + Env.doppler_token;
                  const r = await http.fetch(params.url, { headers: { Authorization: auth } });
                  console.log('got', r.body, 'with', auth);
                  throw new Error('refused ' + r.body + ' for ' + auth);`,
              },
            ],
          },
        },
        files: { 'workflows/getDopplerSecrets.js': shipped('getDopplerSecrets.js') },
        integrations: { 'doppler-db': postgresIntegration('doppler-db', 'getDopplerSecrets') },
      },
      {
        CREDFLOW_AGENT_APP_ENV_DOPPLER_TOKEN: dopplerToken,
        CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK: 'true',
        CREDFLOW_HTTP_BRIDGE_MAX_BYTES: '65536',
        CREDFLOW_HTTP_BRIDGE_TIMEOUT_MS: '2000',
      },
      { httpResolver: resolver },
    );
    // The leak search on close looks for these too: the token and every secret the API served.
    t.addStoredValues(dopplerToken, JSON.stringify(secrets));
  });

  afterAll(async () => {
    await t?.close();
    await api?.close();
    await other?.close();
  });

  it('reads Doppler-shaped secrets with the shipped workflow, and an integration queries the database with them', async () => {
    const res = await t.request('POST', '/api/v1/integrations/doppler-db/query', {
      sql: 'SELECT name FROM widgets ORDER BY id',
    });
    expect(res.status).toBe(200);
    expect(res.body.rows).toEqual([{ name: 'sprocket' }, { name: 'gear' }, { name: 'flange' }]);
    expect(api.requests).toContain('/v3/configs/config/secrets/download');
  });

  it('masks what the API answered in a preview, and shows it only when asked to reveal', async () => {
    const masked = await t.request('POST', '/api/v1/workflows/getDopplerSecrets/run', {});
    expect(masked.body.response.password).toBe(MASK);
    expect(masked.text).not.toContain(db.password);
    const revealed = await t.request('POST', '/api/v1/workflows/getDopplerSecrets/run', { reveal: true });
    expect(revealed.body.response.password).toBe(db.password);
  });

  it('masks the bearer token and the body in step logs and errors', async () => {
    const res = await t.request('POST', '/api/v1/workflows/chatty/run', {
      params: { url: `${api.url}/v3/configs/config/secrets/download?format=json` },
    });
    expect(res.status).toBe(502);
    expect(res.text).toContain('refused');
    expect(res.text).not.toContain(dopplerToken);
    expect(res.text).not.toContain(db.password);
    expect(t.logs.text()).not.toContain(dopplerToken);
  });

  it('refuses an origin that is not in allowedHosts, before connecting', async () => {
    const before = other.requests.length;
    const answer = await run('probe', { url: `${other.url}/anything` });
    expect(answer).toMatchObject({ error: 'HostNotAllowed' });
    expect(answer.message).toContain(`${other.url} is not in the workflow's allowedHosts`);
    expect(other.requests.length).toBe(before);
  });

  it('reaches no origin from a workflow without allowedHosts', async () => {
    expect(await run('noHosts', { url: `${api.url}/v3/configs/config/secrets/download` })).toMatchObject({
      error: 'HostNotAllowed',
    });
  });

  it('refuses a listed name that resolves to loopback, even with CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK', async () => {
    const answer = await run('probe', { url: `http://rebind.test:${api.port}/v3/configs/config/secrets/download` });
    expect(answer).toMatchObject({ error: 'AddressNotAllowed' });
    expect(answer.message).toContain('rebind.test resolves to 127.0.0.1');
  });

  it('refuses a listed name that resolves to the cloud metadata address', async () => {
    const answer = await run('probe', { url: 'http://metadata.test/latest/meta-data/iam/security-credentials/' });
    expect(answer).toMatchObject({ error: 'AddressNotAllowed' });
    expect(answer.message).toContain('169.254.169.254 is a cloud instance metadata address');
  });

  it('refuses a name when any of its addresses is refused, not only the first', async () => {
    const answer = await run('probe', { url: `http://mixed.test:${api.port}/` });
    expect(answer).toMatchObject({ error: 'AddressNotAllowed' });
    expect(answer.message).toContain('127.0.0.1');
  });

  it('follows a redirect within allowedHosts and re-checks each target', async () => {
    const within = await run('probe', { url: `${api.url}/redirect?to=/redirect%3Fto%3D/nowhere` });
    expect(within).toMatchObject({ status: 404, redirected: true, url: `${api.url}/nowhere` });
    const before = other.requests.length;
    const out = await run('probe', { url: `${api.url}/redirect?to=${encodeURIComponent(`${other.url}/x`)}` });
    expect(out).toMatchObject({ error: 'HostNotAllowed' });
    const metadata = await run('probe', {
      url: `${api.url}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`,
    });
    expect(metadata).toMatchObject({ error: 'HostNotAllowed' });
    expect(other.requests.length).toBe(before);
  });

  it('sends a POST body, and no Authorization header on to another origin a redirect names', async () => {
    const reveal = async (url: string, options: unknown) =>
      (await t.request('POST', '/api/v1/workflows/twoOrigins/run', { params: { url, options }, reveal: true })).body
        .response as { status: number; body: string };
    const auth = { headers: { Authorization: `Bearer ${dopplerToken}` } };
    const posted = await reveal(`${api.url}/echo`, { method: 'POST', body: '{"a":1}', ...auth });
    expect(JSON.parse(posted.body)).toEqual({ method: 'POST', authorization: true, body: '{"a":1}' });
    const same = await reveal(`${api.url}/redirect?to=/echo`, auth);
    expect(JSON.parse(same.body)).toMatchObject({ method: 'GET', authorization: true });
    const across = await reveal(`${api.url}/redirect?to=${encodeURIComponent(`${other.url}/echo`)}`, auth);
    expect(JSON.parse(across.body)).toMatchObject({ method: 'GET', authorization: false });
  });

  it('stops after five redirects', async () => {
    let url = '/nowhere';
    for (let i = 0; i < 6; i++) url = `/redirect?to=${encodeURIComponent(url)}`;
    expect(await run('probe', { url: `${api.url}${url}` })).toMatchObject({ error: 'TooManyRedirects' });
  });

  it('stops reading a body past CREDFLOW_HTTP_BRIDGE_MAX_BYTES, declared or streamed', async () => {
    for (const route of ['/big', '/big-declared']) {
      const answer = await run('probe', { url: `${api.url}${route}` });
      expect(answer, route).toMatchObject({ error: 'ResponseTooLarge' });
      expect(answer.message).toContain('CREDFLOW_HTTP_BRIDGE_MAX_BYTES');
    }
  });

  it('gives up on a server that does not answer within CREDFLOW_HTTP_BRIDGE_TIMEOUT_MS', async () => {
    expect(await run('probe', { url: `${api.url}/slow` })).toMatchObject({ error: 'TimeoutError' });
    expect(await run('probe', { url: 'http://hang.test/' })).toMatchObject({ error: 'TimeoutError' });
  });

  it('refuses headers the agent sets itself, naming the field', async () => {
    const answer = await run('probe', { url: `${api.url}/`, options: { headers: { Host: 'elsewhere.example' } } });
    expect(answer).toMatchObject({ error: 'TypeError' });
    expect(answer.message).toContain('1.headers.Host');
  });

  it('counts each call against the bridge budget', async () => {
    expect(await run('budget', { url: `${api.url}/nowhere` })).toEqual({ seen: [404, 404, 'LimitExceededException'] });
  });

  it('counts calls in credflow_bridge_calls_total{store="http"} by outcome', async () => {
    const metrics = (await t.request('GET', '/metrics')).text.split('\n');
    const line = (outcome: string) =>
      metrics.find(
        (l) =>
          l.startsWith('credflow_bridge_calls_total{') &&
          l.includes('store="http"') &&
          l.includes('operation="fetch"') &&
          l.includes(`outcome="${outcome}"`),
      );
    for (const outcome of ['ok', 'HostNotAllowed', 'AddressNotAllowed', 'ResponseTooLarge', 'TimeoutError'])
      expect(line(outcome), outcome).toMatch(/ [1-9]\d*$/);
  });
});

describe('http.fetch to loopback without CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK', () => {
  let api: LocalHttpApi;
  let t: TestAgent;

  beforeAll(async () => {
    api = await startLocalHttpApi({ token: dopplerToken, secrets: {} });
    t = await startTestAgent({ workflows: { probe: probe('probe', [api.url]) } });
  });

  afterAll(async () => {
    await t?.close();
    await api?.close();
  });

  it('refuses 127.0.0.1 even when allowedHosts names it, and says which setting allows it', async () => {
    const res = await t.request('POST', '/api/v1/workflows/probe/run', { params: { url: `${api.url}/x` } });
    expect(res.body.response).toMatchObject({ error: 'AddressNotAllowed' });
    expect(res.body.response.message).toContain('CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK=true');
    expect(api.requests).toEqual([]);
  });
});
