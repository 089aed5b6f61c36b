import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinnedLookup } from '../../src/secrets/index.js';

describe('the HTTP bridge connects to the address it checked', () => {
  let server: http.Server;
  let port: number;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.headers.host);
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const get = (autoSelectFamily: boolean) =>
    new Promise<string>((resolve, reject) => {
      // autoSelectFamily reaches net.connect (Node's types leave it out of RequestOptions).
      const options: http.RequestOptions = {
        hostname: 'never-resolved.invalid',
        port,
        path: '/',
        agent: false,
        lookup: pinnedLookup({ address: '127.0.0.1', family: 4 }),
        ...{ autoSelectFamily },
      };
      const req = http.request(options, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });

  it('whatever name the socket asks for, with and without IPv4/IPv6 family selection, keeping the name in Host', async () => {
    // `.invalid` never resolves (RFC 6761): an answer proves the socket used the pinned address.
    expect(await get(true)).toBe('ok');
    expect(await get(false)).toBe('ok');
    expect(seen).toEqual([`never-resolved.invalid:${port}`, `never-resolved.invalid:${port}`]);
  });
});
