import { Counter, Gauge, type Registry } from 'prom-client';

export interface HttpMetrics {
  /** Requests answered 401. */
  readonly authFailures: Counter;
  /** Requests answered 429 because their address failed to authenticate too often. */
  readonly authRateLimited: Counter;
  /** Connections closed at once because CREDFLOW_HTTP_MAX_CONNECTIONS were open. */
  readonly connectionsDropped: Counter;
  /** Read at scrape time. */
  setSources(sources: { trackedAddresses?: () => number; connections?: () => number }): void;
}

/** The HTTP server's own metrics, in the agent's registry. */
export function createHttpMetrics(registry: Registry): HttpMetrics {
  let trackedAddresses = (): number => 0;
  let connections = (): number => 0;
  const authFailures = new Counter({
    name: 'credflow_auth_failures_total',
    help: 'Requests refused with 401 (missing or wrong token).',
    registers: [registry],
  });
  const authRateLimited = new Counter({
    name: 'credflow_auth_rate_limited_total',
    help: 'Requests refused with 429 TOO_MANY_AUTH_FAILURES, without checking their token (CREDFLOW_HTTP_AUTH_FAILURE_LIMIT).',
    registers: [registry],
  });
  new Gauge({
    name: 'credflow_auth_failure_addresses',
    help: 'Client addresses whose failed authentications are being counted (bounded by CREDFLOW_HTTP_AUTH_FAILURE_ADDRESSES).',
    registers: [registry],
    collect() {
      this.set(trackedAddresses());
    },
  });
  new Gauge({
    name: 'credflow_http_connections',
    help: 'Open HTTP connections (bounded by CREDFLOW_HTTP_MAX_CONNECTIONS).',
    registers: [registry],
    collect() {
      this.set(connections());
    },
  });
  const connectionsDropped = new Counter({
    name: 'credflow_http_connections_dropped_total',
    help: 'Connections closed on arrival because CREDFLOW_HTTP_MAX_CONNECTIONS were open.',
    registers: [registry],
  });
  return {
    authFailures,
    authRateLimited,
    connectionsDropped,
    setSources(sources) {
      if (sources.trackedAddresses) trackedAddresses = sources.trackedAddresses;
      if (sources.connections) connections = sources.connections;
    },
  };
}
