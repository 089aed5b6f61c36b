import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionOptions, trustedContext } from '../../src/secrets/index.js';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates.js';

/**
 * The gateway refuses names that resolve to loopback, so its integration tests reach https servers
 * by IP literal only; here its connection options (pinned lookup, servername, CAs) meet a real TLS
 * server on 127.0.0.1 under a name, as a listed internal host would be reached.
 */
describe('an https hop connects to the checked address and keeps the name for TLS', () => {
  let certs: TestCertificates;
  let server: https.Server;
  let port: number;
  const sni: (string | false | null)[] = [];

  beforeAll(async () => {
    certs = await makeTestCertificates('DNS:vault.test');
    server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
      sni.push((req.socket as TLSSocket).servername);
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const get = (name: string, ca: string | undefined) =>
    new Promise<string>((resolve, reject) => {
      const url = new URL(`https://${name}:${port}/`);
      const options = connectionOptions(url, { address: '127.0.0.1', family: 4 }, trustedContext(ca));
      const req = https.request({ ...options, path: '/', headers: { host: url.host } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });

  it('sends the name as SNI and accepts a certificate for that name from a CA given besides Node’s', async () => {
    // vault.test never resolves: an answer proves the socket used the pinned address.
    expect(await get('vault.test', certs.ca)).toBe('ok');
    expect(sni).toEqual(['vault.test']);
  });

  it('checks the certificate against the name, not the address it connected to', async () => {
    await expect(get('elsewhere.test', certs.ca)).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('trusts only Node’s CAs without the extra ones', async () => {
    await expect(get('vault.test', undefined)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('verifies even when NODE_TLS_REJECT_UNAUTHORIZED=0 is in the environment', async () => {
    const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      await expect(get('vault.test', undefined)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      await expect(get('elsewhere.test', certs.ca)).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    } finally {
      if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
    }
  });
});
