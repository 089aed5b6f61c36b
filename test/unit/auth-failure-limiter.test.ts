import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AuthFailureLimiter } from '../../src/http/auth-failure-limiter.js';
import { clientAddressKey } from '../../src/http/client-address.js';
import { cutText } from '../../src/logging/index.js';
import { captureLogs } from '../support/capture-logs.js';

/** Issue 19: failed authentications per client address, deterministic with an injected clock. */
function limiter(options: { limit?: number; windowMs?: number; maxAddresses?: number } = {}) {
  let now = 1_000_000;
  const logs = captureLogs();
  const l = new AuthFailureLimiter({
    limit: options.limit ?? 2,
    windowMs: options.windowMs ?? 10_000,
    maxAddresses: options.maxAddresses ?? 100,
    logger: pino({ level: 'info' }, logs),
    now: () => now,
  });
  return {
    l,
    advance: (ms: number) => (now += ms),
    summaries: () =>
      logs.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.outcome === 'rate_limited'),
  };
}

describe('AuthFailureLimiter', () => {
  it('refuses an address after `limit` failures until its window ends, saying how long to wait', () => {
    const { l, advance } = limiter();
    expect(l.refuse('a')).toBe(0);
    l.failed('a');
    expect(l.refuse('a')).toBe(0);
    l.failed('a');
    expect(l.refuse('a')).toBe(10);
    expect(l.refuse('b')).toBe(0);
    advance(9_001);
    expect(l.refuse('a')).toBe(1);
    advance(999);
    expect(l.refuse('a')).toBe(0);
    l.close();
  });

  it('writes one summary line when a window with refusals ends, and none for a window without', () => {
    const { l, advance, summaries } = limiter();
    l.failed('quiet');
    for (let i = 0; i < 2; i += 1) l.failed('loud');
    for (let i = 0; i < 50; i += 1) l.refuse('loud');
    expect(summaries()).toEqual([]);
    advance(10_000);
    expect(l.refuse('loud')).toBe(0);
    expect(l.refuse('quiet')).toBe(0);
    expect(summaries()).toMatchObject([
      { event: 'audit', action: 'access', address: 'loud', failures: 2, refused: 50, windowSeconds: 10 },
    ]);
    expect(summaries()[0]?.msg).toBe(
      '50 requests from loud refused with 429 in the last 10 s, after 2 failed authentications',
    );
    expect(l.size).toBe(0);
    l.close();
  });

  it('tracks at most maxAddresses, forgetting the oldest first (with its summary)', () => {
    const { l, summaries } = limiter({ maxAddresses: 3 });
    for (let i = 0; i < 2; i += 1) l.failed('first');
    l.refuse('first');
    for (let i = 0; i < 1_000; i += 1) l.failed(`addr-${i}`);
    expect(l.size).toBe(3);
    expect(summaries()).toMatchObject([{ address: 'first', refused: 1 }]);
    l.close();
  });

  it('writes the summaries of open windows when closed', () => {
    const { l, summaries } = limiter();
    for (let i = 0; i < 2; i += 1) l.failed('a');
    l.refuse('a');
    l.close();
    expect(summaries()).toMatchObject([{ address: 'a', failures: 2, refused: 1 }]);
    expect(l.size).toBe(0);
  });
});

describe('clientAddressKey', () => {
  it('keys IPv4 (also IPv4-mapped) by address and IPv6 by its /64', () => {
    expect(clientAddressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(clientAddressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(clientAddressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(clientAddressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientAddressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientAddressKey('::1')).toBe('0:0:0:0::/64');
    expect(clientAddressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientAddressKey(undefined)).toBe('unknown');
  });
});

describe('cutText', () => {
  it('keeps short text and cuts long text to 256 characters, saying how many were left out', () => {
    expect(cutText('short')).toBe('short');
    expect(cutText('x'.repeat(256))).toBe('x'.repeat(256));
    expect(cutText('x'.repeat(15_000))).toBe(`${'x'.repeat(256)}…(+14744 chars)`);
    // A surrogate pair is never split.
    expect(cutText(`${'x'.repeat(255)}😀tail`)).toBe(`${'x'.repeat(255)}…(+6 chars)`);
  });
});
