import { createServer, type RequestListener, type Server } from 'node:http';
import type { HttpSettings } from '../config/index.js';
import type { HttpMetrics } from './http-metrics.js';

/**
 * The agent's HTTP server with bounds on slow and greedy clients:
 * - `requestTimeout`: the whole request (headers and body) must arrive within it, or the client
 *   gets 408 and the connection is closed. It ends when the request has been received, so a query
 *   that runs longer (up to its statement timeout) is not cut.
 * - `headersTimeout`: the headers must arrive within it; it also closes a connection that sends
 *   nothing at all.
 * - `keepAliveTimeout`: an idle connection between requests is closed after it.
 * - `maxConnections`: a connection past it is closed as soon as it is accepted.
 * Node checks the two request timeouts every `connectionsCheckingInterval`, by default every 30 s;
 * here a quarter of the shorter one (at most 1 s), so a timeout holds to within that.
 */
export function createHttpServer(app: RequestListener, settings: HttpSettings, metrics: HttpMetrics): Server {
  const server = createServer(
    {
      requestTimeout: settings.requestTimeoutMs,
      headersTimeout: settings.headersTimeoutMs,
      keepAliveTimeout: settings.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(
        10,
        Math.min(1_000, Math.floor(Math.min(settings.requestTimeoutMs, settings.headersTimeoutMs) / 4)),
      ),
    },
    app,
  );
  server.maxConnections = settings.maxConnections;
  let open = 0;
  server.on('connection', (socket) => {
    open += 1;
    socket.once('close', () => {
      open -= 1;
    });
  });
  server.on('drop', () => metrics.connectionsDropped.inc());
  metrics.setSources({ connections: () => open });
  return server;
}
