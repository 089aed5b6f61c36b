import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadValidConfig, type Integration } from '../../src/config/index.js';
import {
  CredentialCache,
  neededPathsByWorkflow,
  pruneResponse,
  responseTtlMs,
  type CacheEvent,
  type CacheOptions,
  type Loaded,
} from '../../src/credentials/index.js';
import { CredflowError } from '../../src/errors.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';

const TTL = 10_000;
const KEY = 'getSecrets\u0000default\u0000{}';
const START = Date.parse('2030-01-01T00:00:00.000Z');

/** A clock the test moves by hand. */
function fakeClock() {
  let t = START;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    /** Moves to `START + ms`. */
    at(ms: number) {
      t = START + ms;
    },
  };
}

/** A promise the test settles by hand, for loads that must stay in flight. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets settled loads run their continuations (the cache stores entries after an await). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A loader that returns `v1`, `v2`, ... with the given TTL; `calls` counts its runs. */
function counting(ttlMs = TTL) {
  let calls = 0;
  const load = vi.fn(async (): Promise<Loaded<string>> => {
    calls += 1;
    return { value: `v${calls}`, ttlMs };
  });
  return load;
}

function failing(message = 'the secret store is down') {
  const error = new Error(message);
  return { error, load: vi.fn(async (): Promise<Loaded<string>> => Promise.reject(error)) };
}

function makeCache(overrides: Partial<CacheOptions> = {}) {
  const clock = fakeClock();
  const events: CacheEvent[] = [];
  const cache = new CredentialCache<string>({
    maxEntries: 100,
    maxStaleMs: 60_000,
    retryBackoffMs: [1_000, 8_000],
    now: clock.now,
    random: () => 0,
    onEvent: (event) => events.push(event),
    ...overrides,
  });
  return { cache, clock, events };
}

describe('CredentialCache', () => {
  it('loads a cold key once and serves the cached entry afterwards', async () => {
    const { cache } = makeCache();
    const load = counting();
    const first = await cache.get(KEY, load);
    const second = await cache.get(KEY, load);
    expect(first.outcome).toBe('miss');
    expect(second.outcome).toBe('hit');
    expect(second.entry).toBe(first.entry);
    expect(first.entry).toMatchObject({ value: 'v1', fetchedAt: START, expiresAt: START + TTL });
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('gives 200 concurrent gets on a cold key one load, and all of them the same entry', async () => {
    const { cache } = makeCache();
    const gate = deferred<Loaded<string>>();
    const load = vi.fn(() => gate.promise);
    const gets = Array.from({ length: 200 }, () => cache.get(KEY, load));
    expect(load).toHaveBeenCalledTimes(1);
    gate.resolve({ value: 'only', ttlMs: TTL });
    const results = await Promise.all(gets);
    expect(load).toHaveBeenCalledTimes(1);
    expect(new Set(results.map((r) => r.entry)).size).toBe(1);
    expect(results.every((r) => r.entry.value === 'only' && r.outcome === 'miss')).toBe(true);
  });

  it('gives all 200 concurrent gets on a cold key the error of their one failed load', async () => {
    const { cache } = makeCache();
    const gate = deferred<Loaded<string>>();
    const load = vi.fn(() => gate.promise);
    const gets = Array.from({ length: 200 }, () => cache.get(KEY, load));
    const boom = new Error('GetSecretValue: ThrottlingException');
    gate.reject(boom);
    const results = await Promise.allSettled(gets);
    expect(load).toHaveBeenCalledTimes(1);
    expect(results.every((r) => r.status === 'rejected' && r.reason === boom)).toBe(true);
  });

  describe('refresh ahead of expiry', () => {
    it('refreshes in the background at 75% of the TTL when the jitter is 0, serving the current entry meanwhile', async () => {
      const { cache, clock, events } = makeCache({ random: () => 0 });
      const load = counting();
      const { entry: first } = await cache.get(KEY, load);
      expect(first.refreshAt).toBe(START + 0.75 * TTL);

      clock.at(0.75 * TTL - 1);
      expect((await cache.get(KEY, load)).outcome).toBe('hit');
      expect(load).toHaveBeenCalledTimes(1);

      const gate = deferred<Loaded<string>>();
      const slow = vi.fn(() => gate.promise);
      clock.at(0.75 * TTL);
      const during = await cache.get(KEY, slow);
      // The get answered while the background load is still pending.
      expect(during).toEqual({ entry: first, outcome: 'hit' });
      expect(slow).toHaveBeenCalledTimes(1);
      expect(cache.status(KEY).refreshing).toBe(true);
      expect(events).toContainEqual({ type: 'refresh-start', key: KEY, background: true });

      // Further gets while it runs start nothing more.
      await cache.get(KEY, slow);
      await cache.get(KEY, slow);
      expect(slow).toHaveBeenCalledTimes(1);

      gate.resolve({ value: 'v2', ttlMs: TTL });
      await settle();
      const after = await cache.get(KEY, slow);
      expect(after.outcome).toBe('hit');
      expect(after.entry.value).toBe('v2');
      expect(after.entry.generation).toBeGreaterThan(first.generation);
      expect(slow).toHaveBeenCalledTimes(1);
      expect(events).toContainEqual({ type: 'refresh-ok', key: KEY, background: true });
    });

    it('refreshes at 90% of the TTL when the jitter is 1, and not before', async () => {
      const { cache, clock } = makeCache({ random: () => 1 });
      const load = counting();
      const { entry } = await cache.get(KEY, load);
      expect(entry.refreshAt).toBe(START + 0.9 * TTL);

      clock.at(0.9 * TTL - 1);
      expect((await cache.get(KEY, load)).outcome).toBe('hit');
      expect(load).toHaveBeenCalledTimes(1);

      clock.at(0.9 * TTL);
      const at = await cache.get(KEY, load);
      expect(at).toEqual({ entry, outcome: 'hit' });
      expect(load).toHaveBeenCalledTimes(2);
      await settle();
      expect((await cache.get(KEY, load)).entry.value).toBe('v2');
      expect(load).toHaveBeenCalledTimes(2);
    });

    it('keeps serving the current entry when a background refresh fails, and retries after the backoff', async () => {
      const { cache, clock, events } = makeCache();
      await cache.get(KEY, counting());
      const { load, error } = failing();
      clock.at(0.8 * TTL);
      expect((await cache.get(KEY, load)).entry.value).toBe('v1');
      await settle();
      expect(load).toHaveBeenCalledTimes(1);
      expect(cache.status(KEY).lastError).toEqual({ message: error.message, at: START + 0.8 * TTL });
      expect(events).toContainEqual({
        type: 'refresh-error',
        key: KEY,
        background: true,
        error,
        failingSince: START + 0.8 * TTL,
      });

      clock.advance(999);
      expect((await cache.get(KEY, load)).outcome).toBe('hit');
      expect(load).toHaveBeenCalledTimes(1);
      clock.advance(1);
      expect((await cache.get(KEY, load)).outcome).toBe('hit');
      await settle();
      expect(load).toHaveBeenCalledTimes(2);
    });
  });

  it('loads in the foreground once the entry has expired', async () => {
    const { cache, clock, events } = makeCache();
    const load = counting();
    const { entry: first } = await cache.get(KEY, load);
    clock.at(TTL);
    const expired = await cache.get(KEY, load);
    expect(expired.outcome).toBe('refresh');
    expect(expired.entry.value).toBe('v2');
    expect(expired.entry.generation).toBeGreaterThan(first.generation);
    expect(expired.entry.fetchedAt).toBe(START + TTL);
    expect(load).toHaveBeenCalledTimes(2);
    expect(events).toContainEqual({ type: 'refresh-ok', key: KEY, background: false });
  });

  describe('stale-if-error', () => {
    it('serves the last good entry as stale when refreshing an expired one fails, and records the failure', async () => {
      const { cache, clock, events } = makeCache();
      const { entry: good } = await cache.get(KEY, counting());
      const { load, error } = failing('GetSecretValue: InternalServiceError');
      clock.at(TTL + 5_000);
      const result = await cache.get(KEY, load);
      expect(result).toEqual({ entry: good, outcome: 'stale' });
      expect(load).toHaveBeenCalledTimes(1);
      expect(cache.status(KEY)).toEqual({
        entry: good,
        refreshing: false,
        lastError: { message: 'GetSecretValue: InternalServiceError', at: START + TTL + 5_000 },
        failingSince: START + TTL + 5_000,
      });
      expect(events).toContainEqual({
        type: 'refresh-error',
        key: KEY,
        background: false,
        error,
        failingSince: START + TTL + 5_000,
      });
    });

    it('attempts no load during the retry backoff, one after it, doubling the wait, and keeps the first failure time', async () => {
      const { cache, clock } = makeCache({ retryBackoffMs: [1_000, 8_000] });
      await cache.get(KEY, counting());
      const { load } = failing();
      const failedAt = TTL + 1_000;
      clock.at(failedAt);
      expect((await cache.get(KEY, load)).outcome).toBe('stale');
      expect(load).toHaveBeenCalledTimes(1);

      clock.at(failedAt + 999);
      expect((await cache.get(KEY, load)).outcome).toBe('stale');
      expect((await cache.get(KEY, load)).outcome).toBe('stale');
      expect(load).toHaveBeenCalledTimes(1);

      clock.at(failedAt + 1_000);
      expect((await cache.get(KEY, load)).outcome).toBe('stale');
      expect(load).toHaveBeenCalledTimes(2);

      // Second failure: the next attempt waits 2 s.
      clock.at(failedAt + 1_000 + 1_999);
      await cache.get(KEY, load);
      expect(load).toHaveBeenCalledTimes(2);
      clock.at(failedAt + 1_000 + 2_000);
      await cache.get(KEY, load);
      expect(load).toHaveBeenCalledTimes(3);
      expect(cache.status(KEY).failingSince).toBe(START + failedAt);
      expect(cache.status(KEY).lastError?.at).toBe(START + failedAt + 3_000);

      // Recovery clears the failure state.
      clock.at(failedAt + 3_000 + 4_000);
      const recovered = await cache.get(KEY, counting());
      expect(recovered.outcome).toBe('refresh');
      expect(cache.status(KEY)).toMatchObject({ lastError: undefined, failingSince: undefined });
    });

    it('shares one failing refresh between concurrent callers, who all get the stale entry', async () => {
      const { cache, clock } = makeCache();
      const { entry: good } = await cache.get(KEY, counting());
      const gate = deferred<Loaded<string>>();
      const load = vi.fn(() => gate.promise);
      clock.at(TTL + 1);
      const gets = Array.from({ length: 50 }, () => cache.get(KEY, load));
      gate.reject(new Error('down'));
      const results = await Promise.all(gets);
      expect(load).toHaveBeenCalledTimes(1);
      expect(results.every((r) => r.entry === good && r.outcome === 'stale')).toBe(true);
    });

    it('fails with CREDENTIALS_UNAVAILABLE saying since when, once the entry is past maxStale', async () => {
      const { cache, clock } = makeCache({ maxStaleMs: 60_000 });
      await cache.get(KEY, counting());
      const { load, error } = failing('GetSecretValue: ServiceUnavailable');
      clock.at(TTL + 10_000);
      expect((await cache.get(KEY, load)).outcome).toBe('stale');

      clock.at(TTL + 60_000);
      const failure = await cache.get(KEY, load).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).toBeInstanceOf(CredflowError);
      const since = new Date(START + TTL + 10_000).toISOString();
      expect(failure).toMatchObject({
        code: 'CREDENTIALS_UNAVAILABLE',
        status: 503,
        details: { failingSince: since },
        cause: error,
      });
      expect((failure as Error).message).toContain(`since ${since}`);
      expect((failure as Error).message).toContain('GetSecretValue: ServiceUnavailable');
    });

    it('fails fast past maxStale during the retry backoff, without calling the loader again', async () => {
      const { cache, clock } = makeCache({ maxStaleMs: 60_000, retryBackoffMs: [5_000, 5_000] });
      await cache.get(KEY, counting());
      const { load } = failing();
      clock.at(TTL + 60_000);
      await expect(cache.get(KEY, load)).rejects.toMatchObject({ code: 'CREDENTIALS_UNAVAILABLE' });
      expect(load).toHaveBeenCalledTimes(1);

      // Like a cold key that just failed: no new attempt (and no pile-up on a down store) until the backoff ends.
      clock.advance(1_000);
      await expect(cache.get(KEY, load)).rejects.toMatchObject({ code: 'CREDENTIALS_UNAVAILABLE' });
      await expect(cache.get(KEY, load)).rejects.toMatchObject({ code: 'CREDENTIALS_UNAVAILABLE' });
      expect(load).toHaveBeenCalledTimes(1);
      clock.advance(4_000);
      await expect(cache.get(KEY, load)).rejects.toMatchObject({ code: 'CREDENTIALS_UNAVAILABLE' });
      expect(load).toHaveBeenCalledTimes(2);
    });
  });

  it('fails a cold key that just failed fast with the same error during the backoff, and loads again after it', async () => {
    const { cache, clock } = makeCache({ retryBackoffMs: [2_000, 8_000] });
    const { load, error } = failing('ResourceNotFoundException');
    await expect(cache.get(KEY, load)).rejects.toBe(error);
    expect(load).toHaveBeenCalledTimes(1);

    clock.at(1_999);
    await expect(cache.get(KEY, load)).rejects.toBe(error);
    await expect(cache.get(KEY, load)).rejects.toBe(error);
    expect(load).toHaveBeenCalledTimes(1);

    clock.at(2_000);
    const good = counting();
    const result = await cache.get(KEY, good);
    expect(result.outcome).toBe('miss');
    expect(good).toHaveBeenCalledTimes(1);
    expect(cache.status(KEY)).toMatchObject({ lastError: undefined, failingSince: undefined });
  });

  it('starts no backoff when the sandbox had no room for the run (SANDBOX_BUSY, or a run that timed out in its queue): the next get loads again', async () => {
    const { cache } = makeCache({ retryBackoffMs: [5_000, 5_000] });
    const busy = new CredflowError(
      'SANDBOX_BUSY',
      'workflow "getSecrets" was not started: every sandbox worker is busy',
      { details: { retryAfterSeconds: 1 } },
    );
    const queuedTimeout = new CredflowError(
      'WORKFLOW_TIMEOUT',
      'workflow "getSecrets" waited for a sandbox worker past its time limit',
      { details: { queued: true } },
    );
    for (const refusal of [busy, queuedTimeout]) {
      const refused = vi.fn(async (): Promise<Loaded<string>> => Promise.reject(refusal));
      await expect(cache.get(KEY, refused)).rejects.toBe(refusal);
      // No clock moves: a store failure would fail fast here without calling the loader.
      const good = counting();
      const result = await cache.get(KEY, good);
      expect(result.entry.value).toBe('v1');
      expect(good).toHaveBeenCalledTimes(1);
      expect(cache.status(KEY)).toMatchObject({ lastError: undefined, failingSince: undefined });
      cache.invalidate(KEY);
    }
  });

  describe('a TTL of 0', () => {
    it('never stores the value, so each sequential get loads', async () => {
      const { cache } = makeCache();
      const load = counting(0);
      const results = [await cache.get(KEY, load), await cache.get(KEY, load), await cache.get(KEY, load)];
      expect(results.map((r) => [r.entry.value, r.outcome])).toEqual([
        ['v1', 'miss'],
        ['v2', 'miss'],
        ['v3', 'miss'],
      ]);
      expect(load).toHaveBeenCalledTimes(3);
      expect(cache.status(KEY).entry).toBeUndefined();
    });

    it('still shares one load between concurrent gets', async () => {
      const { cache } = makeCache();
      const gate = deferred<Loaded<string>>();
      const load = vi.fn(() => gate.promise);
      const gets = Array.from({ length: 50 }, () => cache.get(KEY, load));
      gate.resolve({ value: 'once', ttlMs: 0 });
      const results = await Promise.all(gets);
      expect(load).toHaveBeenCalledTimes(1);
      expect(new Set(results.map((r) => r.entry)).size).toBe(1);
      expect(cache.status(KEY).entry).toBeUndefined();
    });

    it('treats a negative TTL as 0', async () => {
      const { cache } = makeCache();
      const { entry } = await cache.get(KEY, async () => ({ value: 'x', ttlMs: -500 }));
      expect(entry.expiresAt).toBe(entry.fetchedAt);
      expect(cache.status(KEY).entry).toBeUndefined();
    });
  });

  it('evicts the least recently used key beyond maxEntries, where a get counts as a use', async () => {
    const { cache, events } = makeCache({ maxEntries: 3 });
    const load = counting();
    await cache.get('a', load);
    await cache.get('b', load);
    await cache.get('c', load);
    expect((await cache.get('a', load)).outcome).toBe('hit');
    await cache.get('d', load);
    expect(cache.size).toBe(3);
    expect(events.filter((e) => e.type === 'evict')).toEqual([{ type: 'evict', key: 'b' }]);
    expect(cache.status('b').entry).toBeUndefined();
    expect((await cache.get('a', load)).outcome).toBe('hit');
    expect((await cache.get('c', load)).outcome).toBe('hit');
    expect((await cache.get('d', load)).outcome).toBe('hit');
    const callsBefore = load.mock.calls.length;
    expect((await cache.get('b', load)).outcome).toBe('miss');
    expect(load).toHaveBeenCalledTimes(callsBefore + 1);
    // Bringing b back pushed out the least recently used one, a.
    expect(events.filter((e) => e.type === 'evict').map((e) => (e as { key: string }).key)).toEqual(['b', 'a']);
  });

  describe('reload after the database refused a value', () => {
    it('returns a newer generation that already exists without loading', async () => {
      const { cache } = makeCache();
      const load = counting();
      const { entry: seen } = await cache.get(KEY, load);
      const newer = await cache.reload(KEY, seen.generation, load);
      expect(newer.generation).toBeGreaterThan(seen.generation);
      expect(load).toHaveBeenCalledTimes(2);
      // A second caller that also saw the refused value gets the newer one, with no third load.
      expect(await cache.reload(KEY, seen.generation, load)).toBe(newer);
      expect(load).toHaveBeenCalledTimes(2);
      expect((await cache.get(KEY, load)).entry).toBe(newer);
    });

    it('loads once for many concurrent callers that saw the same value', async () => {
      const { cache } = makeCache();
      const { entry: seen } = await cache.get(KEY, counting());
      const gate = deferred<Loaded<string>>();
      const load = vi.fn(() => gate.promise);
      const reloads = Array.from({ length: 100 }, () => cache.reload(KEY, seen.generation, load));
      gate.resolve({ value: 'rotated', ttlMs: TTL });
      const entries = await Promise.all(reloads);
      expect(load).toHaveBeenCalledTimes(1);
      expect(new Set(entries).size).toBe(1);
      expect(entries[0]?.value).toBe('rotated');
      expect(cache.status(KEY).entry).toBe(entries[0]);
    });
  });

  describe('invalidate', () => {
    it('drops the entry so the next get loads again', async () => {
      const { cache } = makeCache();
      const load = counting();
      await cache.get(KEY, load);
      expect(cache.invalidate(KEY)).toBe(true);
      expect(cache.status(KEY)).toEqual({
        entry: undefined,
        refreshing: false,
        lastError: undefined,
        failingSince: undefined,
      });
      const next = await cache.get(KEY, load);
      expect(next).toMatchObject({ outcome: 'miss', entry: { value: 'v2' } });
      expect(load).toHaveBeenCalledTimes(2);
      expect(cache.invalidate('no-such-key')).toBe(false);
    });

    it('does not let a load that was in flight bring the dropped value back', async () => {
      const { cache } = makeCache();
      const gate = deferred<Loaded<string>>();
      const pending = cache.get(KEY, () => gate.promise);
      cache.invalidate(KEY);
      gate.resolve({ value: 'old', ttlMs: TTL });
      expect((await pending).entry.value).toBe('old');
      expect(cache.status(KEY).entry).toBeUndefined();
    });
  });
});

describe('responseTtlMs', () => {
  const now = Date.parse('2030-06-01T12:00:00.000Z');
  const inSeconds = (s: number) => new Date(now + s * 1000).toISOString();

  it('uses the configured TTL when the response says nothing of its lifetime', () => {
    expect(responseTtlMs({ password: 'x' }, 300, now)).toBe(300_000);
    expect(responseTtlMs('a string', 300, now)).toBe(300_000);
    expect(responseTtlMs(null, 300, now)).toBe(300_000);
  });

  it('caps the TTL by ttlSeconds when that is shorter, and not when it is longer', () => {
    expect(responseTtlMs({ ttlSeconds: 60 }, 300, now)).toBe(60_000);
    expect(responseTtlMs({ ttlSeconds: 900 }, 300, now)).toBe(300_000);
  });

  it('caps the TTL by expiresAt when that is sooner, and not when it is later', () => {
    expect(responseTtlMs({ expiresAt: inSeconds(30) }, 300, now)).toBe(30_000);
    expect(responseTtlMs({ expiresAt: inSeconds(3600) }, 300, now)).toBe(300_000);
  });

  it('takes the shortest of the configured TTL, ttlSeconds and expiresAt', () => {
    expect(responseTtlMs({ ttlSeconds: 120, expiresAt: inSeconds(45) }, 300, now)).toBe(45_000);
    expect(responseTtlMs({ ttlSeconds: 20, expiresAt: inSeconds(45) }, 300, now)).toBe(20_000);
    expect(responseTtlMs({ ttlSeconds: 20, expiresAt: inSeconds(45) }, 10, now)).toBe(10_000);
  });

  it('is never negative, and 0 when configured so whatever the response says', () => {
    expect(responseTtlMs({ expiresAt: inSeconds(-60) }, 300, now)).toBe(0);
    expect(responseTtlMs({ ttlSeconds: -5 }, 300, now)).toBe(0);
    expect(responseTtlMs({ ttlSeconds: 900, expiresAt: inSeconds(900) }, 0, now)).toBe(0);
  });

  it('ignores lifetimes it cannot read', () => {
    expect(responseTtlMs({ expiresAt: 'soon', ttlSeconds: '60' }, 300, now)).toBe(300_000);
    expect(responseTtlMs({ ttlSeconds: Number.NaN }, 300, now)).toBe(300_000);
  });
});

describe('pruneResponse and neededPathsByWorkflow', () => {
  let folder: { dir: string; remove(): Promise<void> };
  let integrations: Map<string, Integration>;

  /** Integrations as the agent loads them (real schemas, compiled templates). */
  const needed = (...names: string[]) =>
    neededPathsByWorkflow(
      names.map((name) => {
        const found = integrations.get(name);
        if (!found) throw new Error(`no fixture integration ${name}`);
        return found;
      }),
    );

  const withConnection = (name: string, workflow: string, connection: Record<string, unknown>) => ({
    name,
    kind: 'postgres',
    fetchCredentialsDynamically: { enabled: true, workflow },
    connection,
  });

  beforeAll(async () => {
    folder = await writeConfigDir({
      workflows: {
        getSecrets: secretsWorkflow('getSecrets'),
        nested: secretsWorkflow('nested', 'nestedSecret'),
        other: secretsWorkflow('other', 'otherSecret'),
      },
      integrations: {
        fields: postgresIntegration('fields', 'getSecrets'),
        'by-lookup': withConnection('by-lookup', 'getSecrets', {
          host: '<<getSecrets.response.host>>',
          database: 'app',
          user: 'app',
          password: '<<lookup credentials.response "password">>',
        }),
        'whole-response': withConnection('whole-response', 'getSecrets', {
          host: '<<getSecrets.response.host>>',
          database: 'app',
          user: 'app',
          password: '<<credentials.response>>',
        }),
        'nested-fields': withConnection('nested-fields', 'nested', {
          host: '<<nested.response.primary.host>>',
          port: '<<nested.response.primary.port>>',
          database: '<<nested.response.db>>',
          user: '<<credentials.response.auth.user>>',
          password: '<<credentials.response.auth.password>>',
        }),
        'whole-auth': withConnection('whole-auth', 'nested', {
          connectionString:
            'postgres://<<nested.response.auth>>@<<nested.response.primary.host>>/<<nested.response.db>>',
        }),
        'dotted-key': withConnection('dotted-key', 'other', {
          host: '<<other.response.[db.host]>>',
          database: 'app',
          user: 'app',
          password: '<<other.response.password>>',
        }),
        'env-only': {
          name: 'env-only',
          kind: 'postgres',
          connection: { host: '<<Env.db_host>>', database: 'app', user: 'app' },
        },
      },
    });
    const config = await loadValidConfig(folder.dir, {});
    integrations = new Map(config.integrations);
  });

  afterAll(async () => {
    await folder?.remove();
  });

  it('keeps only the paths the templates read', () => {
    const paths = needed('fields').get('getSecrets');
    expect(Array.isArray(paths) && [...paths].sort()).toEqual([
      ['dbname'],
      ['host'],
      ['password'],
      ['port'],
      ['username'],
    ]);
    const response = {
      engine: 'postgres',
      host: 'db',
      port: 5432,
      dbname: 'app',
      username: 'u',
      password: 'p',
      note: 'not needed',
      ttlSeconds: 60,
    };
    expect(pruneResponse(response, paths)).toEqual({
      host: 'db',
      port: 5432,
      dbname: 'app',
      username: 'u',
      password: 'p',
    });
  });

  it('keeps the whole response when a template reads all of it, or reads it through a helper', () => {
    expect(needed('whole-response').get('getSecrets')).toBe('all');
    expect(needed('by-lookup').get('getSecrets')).toBe('all');
    // One integration needing everything wins over another needing a few fields of the same workflow.
    expect(needed('fields', 'by-lookup').get('getSecrets')).toBe('all');
    expect(needed('by-lookup', 'fields').get('getSecrets')).toBe('all');
    const response = { host: 'db', password: 'p', note: 'kept' };
    expect(pruneResponse(response, 'all')).toBe(response);
    expect(pruneResponse(response, undefined)).toBe(response);
  });

  it('keeps nested paths, and a whole subtree when one template reads it whole', () => {
    const response = {
      primary: { host: 'db1', port: 5432, zone: 'a' },
      replica: { host: 'db2' },
      db: 'app',
      auth: { user: 'u', password: 'p', rotatedBy: 'lambda' },
    };
    expect(pruneResponse(response, needed('nested-fields').get('nested'))).toEqual({
      primary: { host: 'db1', port: 5432 },
      db: 'app',
      auth: { user: 'u', password: 'p' },
    });
    expect(pruneResponse(response, needed('nested-fields', 'whole-auth').get('nested'))).toEqual({
      primary: { host: 'db1', port: 5432 },
      db: 'app',
      auth: { user: 'u', password: 'p', rotatedBy: 'lambda' },
    });
  });

  it('keeps a key that holds a dot, read with a [segment] template', () => {
    const response = { 'db.host': 'db1', password: 'p', db: { host: 'wrong' }, note: 'not needed' };
    expect(pruneResponse(response, needed('dotted-key').get('other'))).toEqual({ 'db.host': 'db1', password: 'p' });
  });

  it('leaves out a path the response lacks, and ignores integrations without a workflow', () => {
    expect(pruneResponse({ host: 'db' }, needed('fields').get('getSecrets'))).toEqual({ host: 'db' });
    expect(needed('env-only').size).toBe(0);
    expect([...needed('fields', 'nested-fields').keys()].sort()).toEqual(['getSecrets', 'nested']);
  });

  it('does not change the response it prunes', () => {
    const response = { host: 'db', port: 5432, dbname: 'app', username: 'u', password: 'p', extra: { deep: [1, 2] } };
    const before = structuredClone(response);
    const pruned = pruneResponse(response, needed('fields').get('getSecrets')) as Record<string, unknown>;
    pruned.host = 'changed';
    expect(response).toEqual(before);
    const nested = {
      primary: { host: 'db1', port: 1, zone: 'a' },
      db: 'x',
      auth: { user: 'u', password: 'p', rotatedBy: 'l' },
    };
    const nestedBefore = structuredClone(nested);
    pruneResponse(nested, needed('nested-fields').get('nested'));
    expect(nested).toEqual(nestedBefore);
  });
});

describe('CredentialCache review fixes: bounded wait for expired values, generations numbered at load start', () => {
  // A real timer bounds the wait; the clock that decides expiry stays fake.
  const WAIT = 30;

  it('serves an expired entry within its stale bound as stale after a bounded wait when the refresh hangs, and lets the refresh go on', async () => {
    const { cache, clock } = makeCache({ maxRefreshWaitMs: WAIT });
    const { entry: good } = await cache.get(KEY, counting());
    clock.at(TTL + 1);
    const gate = deferred<Loaded<string>>();
    const hanging = vi.fn(() => gate.promise);

    const first = await cache.get(KEY, hanging);
    expect(first).toEqual({ entry: good, outcome: 'stale' });
    expect(hanging).toHaveBeenCalledTimes(1);
    expect(cache.status(KEY).refreshing).toBe(true);

    // A second request waits for the same refresh, starting none of its own.
    const second = await cache.get(KEY, hanging);
    expect(second).toEqual({ entry: good, outcome: 'stale' });
    expect(hanging).toHaveBeenCalledTimes(1);

    // The refresh kept running and, when it finishes, its value is kept and served.
    gate.resolve({ value: 'late', ttlMs: TTL });
    await settle();
    expect(cache.status(KEY)).toMatchObject({ refreshing: false, entry: { value: 'late' } });
    const after = await cache.get(KEY, hanging);
    expect(after.outcome).toBe('hit');
    expect(after.entry.value).toBe('late');
    expect(after.entry.generation).toBeGreaterThan(good.generation);
    expect(hanging).toHaveBeenCalledTimes(1);
  });

  it('answers with the refreshed entry (outcome refresh) when the refresh of an expired entry finishes within the wait', async () => {
    const { cache, clock } = makeCache({ maxRefreshWaitMs: WAIT });
    const { entry: good } = await cache.get(KEY, counting());
    clock.at(TTL + 1);
    const gate = deferred<Loaded<string>>();
    const load = vi.fn(() => gate.promise);
    const pending = cache.get(KEY, load);
    // Settled before any timer can fire.
    gate.resolve({ value: 'fresh', ttlMs: TTL });
    const result = await pending;
    expect(result.outcome).toBe('refresh');
    expect(result.entry.value).toBe('fresh');
    expect(result.entry.generation).toBeGreaterThan(good.generation);
    expect(cache.status(KEY).entry).toBe(result.entry);
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('numbers a load when it starts: a slow load started before an invalidation, finishing last, keeps the lower generation and does not replace the newer entry', async () => {
    const { cache } = makeCache();
    const slowGate = deferred<Loaded<string>>();
    const slow = cache.get(KEY, () => slowGate.promise);
    expect(cache.invalidate(KEY)).toBe(true);

    const newer = await cache.get(KEY, async () => ({ value: 'newer', ttlMs: TTL }));
    expect(newer.outcome).toBe('miss');

    slowGate.resolve({ value: 'older', ttlMs: TTL });
    const older = await slow;
    expect(older.entry.value).toBe('older');
    // Its caller holds the older credentials, and they rank below the newer ones.
    expect(older.entry.generation).toBeLessThan(newer.entry.generation);
    expect(cache.status(KEY).entry).toBe(newer.entry);
    const next = await cache.get(KEY, counting());
    expect(next).toEqual({ entry: newer.entry, outcome: 'hit' });
  });

  it('gives a caller whose older value (from a slow load) was refused the newer entry on reload with notBefore, without loading again', async () => {
    const { cache, clock } = makeCache();
    const slowGate = deferred<Loaded<string>>();
    const slow = cache.get(KEY, () => slowGate.promise);
    cache.invalidate(KEY);
    clock.advance(100);
    const newerLoad = vi.fn(async (): Promise<Loaded<string>> => ({ value: 'newer', ttlMs: TTL }));
    const { entry: newer } = await cache.get(KEY, newerLoad);
    slowGate.resolve({ value: 'older', ttlMs: TTL });
    const { entry: older } = await slow;
    await settle();

    // The database refused `older` in an attempt that began after the newer load started.
    const extra = counting();
    const reloaded = await cache.reload(KEY, older.generation, extra, START + 100);
    expect(reloaded).toBe(newer);
    expect(extra).not.toHaveBeenCalled();
    expect(cache.status(KEY).entry).toBe(newer);
  });

  it("does not answer a reload with a refresh that started before notBefore: that refresh lands first, then the reload's own load replaces it with a higher generation", async () => {
    const { cache, clock } = makeCache();
    const { entry: first } = await cache.get(KEY, counting());

    // A background refresh starts at 75% of the TTL and hangs.
    clock.at(0.75 * TTL);
    const bgGate = deferred<Loaded<string>>();
    await cache.get(KEY, () => bgGate.promise);
    expect(cache.status(KEY).refreshing).toBe(true);

    // A caller whose attempt began after that refresh started must not be answered by it.
    clock.advance(10);
    const reloadGate = deferred<Loaded<string>>();
    const reloadLoad = vi.fn(() => reloadGate.promise);
    const reloading = cache.reload(KEY, first.generation, reloadLoad, START + 0.75 * TTL + 10);
    bgGate.resolve({ value: 'background', ttlMs: TTL });
    await settle();
    expect(reloadLoad).toHaveBeenCalledTimes(1);
    const background = cache.status(KEY).entry;
    expect(background?.value).toBe('background');

    reloadGate.resolve({ value: 'reloaded', ttlMs: TTL });
    const reloaded = await reloading;
    expect(reloaded.value).toBe('reloaded');
    expect(reloaded.generation).toBeGreaterThan(background?.generation ?? Infinity);
    expect(cache.status(KEY).entry).toBe(reloaded);
  });
});
