import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASK } from '../../src/masking/index.js';
import { startLocalHttpApi, type LocalHttpApi } from '../support/local-http-api.js';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';

const shipped = (file: string) => readFileSync(path.join(import.meta.dirname, '../../workflows', file), 'utf8');

const dopplerToken = 'dp.st.prd.Tq3Wn8Kx5Vb2Lr7Zm4Hc9Jf6Gd1Ps0Ya';
const secrets = {
  DB_HOST: 'orders-db.internal',
  DB_PORT: '5432',
  DB_NAME: 'orders',
  DB_USER: 'orders_reader',
  DB_PASSWORD: 'Hs7-Kq2Wz9Lp4Rt8Vn3Xc6',
};

/** A workflow that fetches params.url and answers what came back, or the error's name and message. */
const probe = (name: string, allowedHosts: string[]) => ({
  name,
  allowedHosts,
  steps: [
    {
      name: 'fetch',
      code: `try {
        const r = await http.fetch(params.url, params.options);
        return { status: r.status, redirected: r.redirected, url: r.url, body: r.body };
      } catch (e) { return { error: e.name, message: e.message }; }`,
    },
  ],
});

/** The shipped Doppler workflow, reading from `url`. */
const doppler = (url: string) => {
  const workflow = JSON.parse(shipped('getDopplerSecrets.json'));
  return { ...workflow, allowedHosts: [url], params: { ...workflow.params, dopplerUrl: url } };
};

/** A step that prints what it read and the token it sent, then throws with both. */
const chatty = (url: string) => ({
  name: 'chatty',
  allowedHosts: [url],
  steps: [
    {
      name: 'fetch',
      code: `const auth = 'Bearer ' + Env.doppler_token;
        const r = await http.fetch(params.url, { headers: { Authorization: auth } });
        console.log('got', r.body, 'with', auth);
        throw new Error('refused ' + r.body + ' for ' + auth);`,
    },
  ],
});

const secretsPath = '/v3/configs/config/secrets/download?format=json';

/** What the Doppler-like API serves over https: the token and every secret. */
const servedSecrets = [dopplerToken, JSON.stringify(secrets)];

describe('http.fetch over https to a server whose CA CREDFLOW_HTTP_BRIDGE_CA_FILE names', () => {
  let certs: TestCertificates;
  let elsewhere: TestCertificates;
  let caDir: string;
  let api: LocalHttpApi;
  let wrongName: LocalHttpApi;
  let plain: LocalHttpApi;
  let t: TestAgent;
  const run = async (workflow: string, params: Record<string, unknown>, reveal = false) => {
    const res = await t.request('POST', `/api/v1/workflows/${workflow}/run`, { params, ...(reveal ? { reveal } : {}) });
    return res.body.response as Record<string, unknown>;
  };

  beforeAll(async () => {
    // Two CAs in one file: the second signed a certificate for another name, so a refusal of it is
    // the name check, not the trust check.
    [certs, elsewhere] = await Promise.all([makeTestCertificates(), makeTestCertificates('DNS:elsewhere.test')]);
    caDir = await mkdtemp(path.join(os.tmpdir(), 'credflow-bridge-ca-'));
    const caFile = path.join(caDir, 'extra-ca.pem');
    await writeFile(caFile, `${certs.ca}${elsewhere.ca}`);
    api = await startLocalHttpApi({ token: dopplerToken, secrets, tls: certs });
    wrongName = await startLocalHttpApi({ token: dopplerToken, secrets, tls: elsewhere });
    plain = await startLocalHttpApi({ token: 'unused-token-value', secrets: {} });
    t = await startTestAgent(
      {
        workflows: {
          getDopplerSecrets: doppler(api.url),
          chatty: chatty(api.url),
          probe: probe('probe', [api.url, wrongName.url]),
          downgradeListed: probe('downgradeListed', [api.url, plain.url]),
        },
        files: { 'workflows/getDopplerSecrets.js': shipped('getDopplerSecrets.js') },
      },
      {
        CREDFLOW_AGENT_APP_ENV_DOPPLER_TOKEN: dopplerToken,
        CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK: 'true',
        CREDFLOW_HTTP_BRIDGE_CA_FILE: caFile,
      },
    );
    t.addStoredValues(...servedSecrets);
  });

  afterAll(async () => {
    await t?.close();
    await api?.close();
    await wrongName?.close();
    await plain?.close();
    if (caDir) await rm(caDir, { recursive: true, force: true });
  });

  it('reads secrets with the shipped Doppler workflow, masked in the preview and shown only when revealed', async () => {
    const masked = await t.request('POST', '/api/v1/workflows/getDopplerSecrets/run', {});
    expect(masked.status).toBe(200);
    expect(masked.body.response).toMatchObject({ host: 'orders-db.internal', password: MASK });
    expect(masked.text).not.toContain(secrets.DB_PASSWORD);
    const revealed = await t.request('POST', '/api/v1/workflows/getDopplerSecrets/run', { reveal: true });
    expect(revealed.body.response.password).toBe(secrets.DB_PASSWORD);
    expect(api.requests).toContain('/v3/configs/config/secrets/download');
  });

  it('answers a GET over https with the response, the body masked', async () => {
    const answer = await run('probe', { url: `${api.url}/nowhere` });
    expect(answer).toMatchObject({ status: 404, redirected: false, url: `${api.url}/nowhere`, body: MASK });
  });

  it('masks the bearer token and the body in step logs and errors', async () => {
    const res = await t.request('POST', '/api/v1/workflows/chatty/run', {
      params: { url: `${api.url}${secretsPath}` },
    });
    expect(res.status).toBe(502);
    expect(res.text).toContain('refused');
    for (const secret of [dopplerToken, secrets.DB_PASSWORD]) {
      expect(res.text).not.toContain(secret);
      expect(t.logs.text()).not.toContain(secret);
    }
  });

  it('takes the scheme as part of the origin: https://127.0.0.1:P listed does not admit http://127.0.0.1:P', async () => {
    const answer = await run('probe', { url: `http://127.0.0.1:${api.port}/nowhere` });
    expect(answer).toMatchObject({ error: 'HostNotAllowed' });
    expect(answer.message).toContain(`http://127.0.0.1:${api.port} is not in the workflow's allowedHosts`);
  });

  it('refuses a redirect from the https origin to an http one unless that origin is listed too', async () => {
    const to = `${api.url}/redirect?to=${encodeURIComponent(`${plain.url}/echo`)}`;
    const refused = await run('probe', { url: to });
    expect(refused).toMatchObject({ error: 'HostNotAllowed' });
    expect(refused.message).toContain(`${plain.url} is not in the workflow's allowedHosts`);
    expect(plain.requests).toEqual([]);
    // Listed, it is followed; the credential stays behind with the origin it was meant for.
    const options = { headers: { Authorization: `Bearer ${dopplerToken}` } };
    const followed = await run('downgradeListed', { url: to, options }, true);
    expect(followed).toMatchObject({ status: 200, redirected: true, url: `${plain.url}/echo` });
    expect(JSON.parse(followed.body as string)).toMatchObject({ method: 'GET', authorization: false });
    expect(plain.requests).toEqual(['/echo']);
  });

  it('refuses a certificate from a trusted CA that is for another name, and says so', async () => {
    const answer = await run('probe', { url: `${wrongName.url}${secretsPath}` });
    expect(answer).toMatchObject({ error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(answer.message).toBe(
      `http.fetch ${wrongName.url}: the server's certificate is not for 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID): 127.0.0.1 is not among its subject alternative names`,
    );
    expect(wrongName.requests).toEqual([]);
  });
});

describe('http.fetch over https without CREDFLOW_HTTP_BRIDGE_CA_FILE', () => {
  let api: LocalHttpApi;
  let t: TestAgent;

  beforeAll(async () => {
    const certs = await makeTestCertificates();
    api = await startLocalHttpApi({ token: dopplerToken, secrets, tls: certs });
    t = await startTestAgent(
      {
        workflows: { getDopplerSecrets: doppler(api.url), probe: probe('probe', [api.url]) },
        files: { 'workflows/getDopplerSecrets.js': shipped('getDopplerSecrets.js') },
      },
      { CREDFLOW_AGENT_APP_ENV_DOPPLER_TOKEN: dopplerToken, CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK: 'true' },
    );
    t.addStoredValues(...servedSecrets);
  });

  afterAll(async () => {
    await t?.close();
    await api?.close();
  });

  it('fails with the TLS error as the name and a message saying the certificate is not trusted, naming the setting', async () => {
    const res = await t.request('POST', '/api/v1/workflows/probe/run', { params: { url: `${api.url}${secretsPath}` } });
    expect(res.body.response).toEqual({
      error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      message:
        `http.fetch ${api.url}: the server's certificate is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE): ` +
        'no CA Node trusts signed it (set CREDFLOW_HTTP_BRIDGE_CA_FILE to a PEM file of the CA that did)',
    });
    expect(api.requests).toEqual([]);
  });

  it('fails the shipped workflow with that message, and the token it would have sent appears nowhere', async () => {
    const res = await t.request('POST', '/api/v1/workflows/getDopplerSecrets/run', {});
    expect(res.status).toBe(502);
    expect(res.text).toContain('CREDFLOW_HTTP_BRIDGE_CA_FILE');
    expect(res.text).not.toContain(dopplerToken);
    expect(t.logs.text()).not.toContain(dopplerToken);
    expect(api.requests).toEqual([]);
  });
});

describe('CREDFLOW_HTTP_BRIDGE_CA_FILE at start-up', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-bad-ca-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const start = (caFile: string) =>
    startTestAgent({ workflows: {} }, { CREDFLOW_HTTP_BRIDGE_CA_FILE: caFile }).then(async (t) => {
      await t.close();
      throw new Error('the agent started');
    });

  it('is a start-up error naming the variable when the file cannot be read', async () => {
    const missing = path.join(dir, 'missing.pem');
    await expect(start(missing)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: `environment variable CREDFLOW_HTTP_BRIDGE_CA_FILE: ${missing}: file not found`,
    });
  });

  it('is a start-up error when the file holds no certificate, or one that does not parse', async () => {
    const empty = path.join(dir, 'not-pem.pem');
    await writeFile(empty, 'not a certificate\n');
    await expect(start(empty)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: `environment variable CREDFLOW_HTTP_BRIDGE_CA_FILE: ${empty}: holds no PEM certificate (a "-----BEGIN CERTIFICATE-----" block)`,
    });
    const broken = path.join(dir, 'broken.pem');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    await expect(start(broken)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining(
        `environment variable CREDFLOW_HTTP_BRIDGE_CA_FILE: ${broken}: certificate 1 of 1 is not a valid certificate`,
      ),
    });
  });
});
