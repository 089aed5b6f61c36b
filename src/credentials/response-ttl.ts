/**
 * How long a workflow response may be used: the integration's TTL, capped by what the response says
 * of itself (`expiresAt` as an ISO time, or `ttlSeconds`, as an RDS IAM token would) and by the
 * Vault leases the run obtained (`lease_duration`). The shorter one wins.
 */
export function responseTtlMs(
  response: unknown,
  configuredSeconds: number,
  now: number,
  leases: readonly { duration: number }[] = [],
): number {
  let ttl = configuredSeconds * 1000;
  // A lease of 0 s has no end (a non-expiring secret): it does not shorten the entry.
  for (const lease of leases) if (lease.duration > 0) ttl = Math.min(ttl, lease.duration * 1000);
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
