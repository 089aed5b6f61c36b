import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface LocalHttpApi {
  url: string;
  port: number;
  /** Requests received, by path (for checking that a refused call never arrived). */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A Doppler-like REST API on loopback: `GET /v3/configs/config/secrets/download?format=json` with
 * `Authorization: Bearer <token>` answers the secrets as one flat JSON object (as Doppler does),
 * 401 with Doppler's error shape otherwise. Besides: `/echo` (the method, whether an Authorization
 * header came, and the body, as JSON), `/redirect?to=<url>` (302), `/big` (a chunked
 * body of `bigBytes`), `/big-declared` (the same with Content-Length) and `/slow` (never answers).
 * With `tls` it speaks https with that key and certificate.
 */
export async function startLocalHttpApi(options: {
  token: string;
  secrets: Record<string, string>;
  bigBytes?: number;
  tls?: { key: string; cert: string };
}): Promise<LocalHttpApi> {
  const requests: string[] = [];
  const held = new Set<ServerResponse>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://local');
    requests.push(url.pathname);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    switch (url.pathname) {
      case '/v3/configs/config/secrets/download':
        if (req.headers.authorization !== `Bearer ${options.token}`)
          return json(401, { messages: ['Invalid Auth token'], success: false });
        if (url.searchParams.get('format') !== 'json') return json(400, { messages: ['format'], success: false });
        return json(200, options.secrets);
      case '/echo': {
        let body = '';
        req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        req.on('end', () =>
          json(200, { method: req.method, authorization: req.headers.authorization !== undefined, body }),
        );
        return;
      }
      case '/redirect':
        res.writeHead(302, { location: url.searchParams.get('to') ?? '/' });
        return res.end();
      case '/big':
      case '/big-declared': {
        const bytes = options.bigBytes ?? 2 * 1024 * 1024;
        res.writeHead(200, {
          'content-type': 'text/plain',
          ...(url.pathname === '/big-declared' ? { 'content-length': String(bytes) } : {}),
        });
        const chunk = Buffer.alloc(16 * 1024, 'x');
        let sent = 0;
        const write = (): void => {
          while (sent < bytes && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', write);
          }
          res.end();
        };
        res.on('error', () => undefined);
        return write();
      }
      case '/slow':
        held.add(res);
        return;
      default:
        return json(404, { messages: ['not found'], success: false });
    }
  };
  // Only the key and certificate: the server sends no CA with its certificate, as most do not.
  const { tls } = options;
  const server = tls ? createTlsServer({ key: tls.key, cert: tls.cert }, handle) : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
