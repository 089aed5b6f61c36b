/**
 * How long a workflow response may be used: the integration's TTL, capped by what the response says
 * of itself (`expiresAt` as an ISO time, or `ttlSeconds`, as a Vault lease or an RDS IAM token
 * would). The shorter one wins.
 */
export function responseTtlMs(response: unknown, configuredSeconds: number, now: number): number {
  let ttl = configuredSeconds * 1000;
  if (response !== null && typeof response === 'object') {
    const { expiresAt, ttlSeconds } = response as { expiresAt?: unknown; ttlSeconds?: unknown };
    if (typeof ttlSeconds === 'number' && Number.isFinite(ttlSeconds)) ttl = Math.min(ttl, ttlSeconds * 1000);
    if (typeof expiresAt === 'string') {
      const at = Date.parse(expiresAt);
      if (Number.isFinite(at)) ttl = Math.min(ttl, at - now);
    }
  }
  return Math.max(0, ttl);
}
