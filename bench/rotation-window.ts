import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { startEmbeddedAgentProcess, type EmbeddedAgent } from './embedded-agent-process.ts';

/**
 * `npm run bench:rotation` (issue 13): rotates the demo role's password on the agent of `npm start`
 * while loops of queries run through its HTTP API, in both orders (secret store first, database
 * first), with and without ending the role's other sessions, and prints one table row per case.
 * It drives the agent only as a user would: the CLI process, the HTTP API, the AWS SDK and `pg`.
 */

type Order = 'secret-first' | 'db-first';

interface Case {
  order: Order;
  terminate: boolean;
  gapMs: number;
}

interface Row {
  order: Order;
  terminated: boolean;
  gapMs: number;
  ok: number;
  failed: number;
  /** Failed queries by error code, with the SQLSTATE when the error has one: `DB_AUTH_FAILED (28P01)`. */
  failuresByCode: Record<string, number>;
  workflowRuns: number;
  maxLatencyMs: number;
  /** Increase of each `credflow_rotation_wait*` count or total during the case, when the agent has them. */
  rotationWaits?: Record<string, number>;
}

/** The RDS shape of `postgresSecrets`; other fields are written back as they were read. */
interface DemoSecret {
  host: string;
  port: number;
  dbname: string;
  username: string;
  password: string;
}

const secretId = 'postgresSecrets';
const queryPath = '/api/v1/integrations/demo-postgres/query';
const queryBody = JSON.stringify({ sql: 'SELECT count(*)::int AS n FROM orders' });
// Longer than any wait the agent may add; a request past it counts as failed, not as a stuck loop.
const requestTimeoutMs = 30_000;
// Between cases: a case whose rotation left the agent failing must not spill into the next one.
const recoveryBoundMs = 15_000;
const workflowRunsSample = /^credflow_workflow_run_duration_seconds_count\{[^}]*workflow="getSecrets"/;
const rotationWaitSample = /^credflow_rotation_wait\w*_(?:count|total)(?:\{|$)/;

// Every password and token of this run: whatever it prints passes through mask() first.
const secretValues = new Set<string>();
const mask = (text: string) => [...secretValues].reduce((masked, value) => masked.replaceAll(value, '********'), text);
const out = (line = '') => process.stdout.write(`${mask(line)}\n`);
const note = (line: string) => process.stderr.write(`${mask(line)}\n`);
let interruptedBy: NodeJS.Signals | undefined;

function readOptions() {
  const { values } = parseArgs({
    options: {
      gaps: { type: 'string', default: '200,2000' },
      loops: { type: 'string', default: '4' },
      'before-ms': { type: 'string', default: '1500' },
      'after-ms': { type: 'string', default: '2000' },
      json: { type: 'boolean', default: false },
    },
  });
  const integer = (name: string, text: string, min: number) => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min)
      throw new Error(`--${name} must be an integer >= ${min}, not "${text}"`);
    return value;
  };
  return {
    gaps: values.gaps.split(',').map((gap) => integer('gaps', gap.trim(), 0)),
    loops: integer('loops', values.loops, 1),
    beforeMs: integer('before-ms', values['before-ms'], 0),
    afterMs: integer('after-ms', values['after-ms'], 0),
    json: values.json,
  };
}

type Options = ReturnType<typeof readOptions>;

/** The cases in the issue's order (per gap: not terminated, then terminated; secret first, then database first). */
function casesFor(gaps: number[]): Case[] {
  return gaps.flatMap((gapMs) =>
    [false, true].flatMap((terminate) =>
      (['secret-first', 'db-first'] as const).map((order) => ({ order, terminate, gapMs })),
    ),
  );
}

/** A fresh password with the characters that SQL quoting and templates must carry byte for byte. */
function newPassword(): string {
  const password = `${randomBytes(15).toString('base64url')}'&<>{}`;
  secretValues.add(password);
  return password;
}

/** One query through the HTTP API: undefined when it answered rows, else what to count the failure under. */
async function queryOnce(agentUrl: string, token: string): Promise<string | undefined> {
  let response: Response;
  try {
    response = await fetch(`${agentUrl}${queryPath}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: queryBody,
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
  } catch (error) {
    return `no response (${(error as Error).name})`;
  }
  const body = (await response.json().catch(() => ({}))) as {
    error?: { code?: string; details?: { sqlstate?: unknown } };
  };
  if (response.ok) return undefined;
  const code = body.error?.code ?? `HTTP ${response.status}`;
  const sqlstate = body.error?.details?.sqlstate;
  return typeof sqlstate === 'string' ? `${code} (${sqlstate})` : code;
}

/** Waits until a query succeeds, polling; false when it still fails after `boundMs`. */
async function waitForQueries(agentUrl: string, token: string, boundMs: number): Promise<boolean> {
  const deadline = performance.now() + boundMs;
  while (performance.now() < deadline) {
    if ((await queryOnce(agentUrl, token)) === undefined) return true;
    await sleep(250);
  }
  return false;
}

/** The samples of /metrics this benchmark compares, and whether the agent has rotation-wait metrics at all. */
async function readMetrics(agentUrl: string, token: string) {
  const response = await fetch(`${agentUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`GET /metrics answered HTTP ${response.status}`);
  const samples = new Map<string, number>();
  let hasRotationWaits = false;
  for (const line of (await response.text()).split('\n')) {
    // A labelled counter without samples yet shows only its HELP and TYPE lines.
    if (line.startsWith('# TYPE credflow_rotation_wait')) hasRotationWaits = true;
    const space = line.lastIndexOf(' ');
    const series = line.slice(0, space);
    if (workflowRunsSample.test(series) || rotationWaitSample.test(series))
      samples.set(series, Number(line.slice(space + 1)));
  }
  return { samples, hasRotationWaits };
}

type Metrics = Awaited<ReturnType<typeof readMetrics>>;

/** Increase of each sample matching `pattern` from `before` to `after`; a sample absent before counts from 0. */
function increases(before: Metrics, after: Metrics, pattern: RegExp): Record<string, number> {
  const grown: Record<string, number> = {};
  for (const [series, value] of after.samples)
    if (pattern.test(series)) grown[series] = value - (before.samples.get(series) ?? 0);
  return grown;
}

/**
 * Rotates the demo role to `next` in the case's order. The database step is done by the role
 * itself, as a rotation lambda or a person does, on a session it opened with its current password.
 */
async function rotate(c: Case, role: pg.Client, store: SecretsManagerClient, secret: DemoSecret, next: string) {
  const changeDatabase = async () => {
    await role.query(`ALTER ROLE CURRENT_USER PASSWORD ${pg.escapeLiteral(next)}`);
    // What a failover or restart does to the agent's pooled sessions: its next connections log in afresh.
    if (c.terminate)
      await role.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid()',
      );
  };
  const changeStore = async () => {
    await store.send(
      new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify({ ...secret, password: next }) }),
    );
  };
  const [first, second] = c.order === 'secret-first' ? [changeStore, changeDatabase] : [changeDatabase, changeStore];
  await first();
  await sleep(c.gapMs);
  await second();
}

/**
 * One case: `loops` concurrent query loops from `beforeMs` before the first step to `afterMs` after
 * the second. Leaves `secret.password` set to the new password, which both sides then hold.
 */
async function runCase(
  c: Case,
  options: Options,
  agent: EmbeddedAgent,
  token: string,
  store: SecretsManagerClient,
  secret: DemoSecret,
): Promise<Row> {
  const next = newPassword();
  const role = new pg.Client({
    host: secret.host,
    port: secret.port,
    database: secret.dbname,
    user: secret.username,
    password: secret.password,
  });
  // PostgreSQL stopping (Ctrl-C reaches it too) ends this session while it idles, and pg emits an
  // 'error' nobody would handle; the session's next query reports the loss instead.
  role.on('error', () => undefined);
  await role.connect();
  const window = new AbortController();
  const tally = { ok: 0, failed: 0, failuresByCode: {} as Record<string, number>, maxLatencyMs: 0 };
  const loop = async () => {
    while (!window.signal.aborted) {
      const started = performance.now();
      const failure = await queryOnce(agent.url, token);
      tally.maxLatencyMs = Math.max(tally.maxLatencyMs, performance.now() - started);
      if (failure === undefined) tally.ok += 1;
      else {
        tally.failed += 1;
        tally.failuresByCode[failure] = (tally.failuresByCode[failure] ?? 0) + 1;
      }
    }
  };
  try {
    const before = await readMetrics(agent.url, token);
    const loops = Array.from({ length: options.loops }, loop);
    try {
      await sleep(options.beforeMs);
      await rotate(c, role, store, secret, next);
      secret.password = next;
      await sleep(options.afterMs);
    } finally {
      window.abort();
      await Promise.all(loops);
    }
    const after = await readMetrics(agent.url, token);
    const runs = Object.values(increases(before, after, workflowRunsSample)).reduce((sum, n) => sum + n, 0);
    return {
      order: c.order,
      terminated: c.terminate,
      gapMs: c.gapMs,
      ok: tally.ok,
      failed: tally.failed,
      failuresByCode: tally.failuresByCode,
      workflowRuns: runs,
      maxLatencyMs: Math.round(tally.maxLatencyMs),
      ...(after.hasRotationWaits ? { rotationWaits: increases(before, after, rotationWaitSample) } : {}),
    };
  } finally {
    await role.end();
  }
}

/** "4 rotated, 2 timeout": the wait metric's count per outcome label, without the zero ones. */
function waitsByOutcome(increases: Record<string, number>): string {
  const byOutcome = new Map<string, number>();
  for (const [series, n] of Object.entries(increases)) {
    const outcome = /outcome="([^"]+)"/.exec(series)?.[1];
    if (n === 0 || !outcome || !series.startsWith('credflow_rotation_wait_duration_seconds_count')) continue;
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + n);
  }
  return [...byOutcome].map(([outcome, n]) => `${n.toLocaleString('en-US')} ${outcome}`).join(', ');
}

/** The issue's table, with the extra columns; a column for the rotation-wait metrics only when the agent has them. */
function printTable(rows: Row[]): void {
  const count = (n: number) => n.toLocaleString('en-US');
  const orders: Record<Order, string> = {
    'secret-first': 'secret first, then database',
    'db-first': 'database first, then secret',
  };
  const withWaits = rows.some((row) => row.rotationWaits);
  const header = [
    'order',
    'connections terminated',
    'gap ms',
    'ok',
    'failed',
    'failures by code',
    'workflow runs',
    'max query latency ms',
  ];
  if (withWaits) header.push('queries that waited, by outcome');
  out(`| ${header.join(' | ')} |`);
  out(`|${header.map(() => '---|').join('')}`);
  for (const row of rows) {
    const failures = Object.entries(row.failuresByCode)
      .map(([key, n]) => `${count(n)} ${key.replace(/^(\S+)/, '`$1`')}`)
      .join(', ');
    const cells = [
      orders[row.order],
      row.terminated ? 'yes' : 'no',
      String(row.gapMs),
      count(row.ok),
      count(row.failed),
      failures || '—',
      count(row.workflowRuns),
      count(row.maxLatencyMs),
    ];
    if (withWaits) cells.push(waitsByOutcome(row.rotationWaits ?? {}) || '—');
    out(`| ${cells.join(' | ')} |`);
  }
  if (!withWaits) out('\n(no credflow_rotation_wait* metrics on this agent)');
}

/** Starts the agent on copies of integrations/ and workflows/, runs every case, prints the table. */
async function main(options: Options): Promise<void> {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-rotation-'));
  const token = `rotation-${randomBytes(18).toString('base64url')}`;
  secretValues.add(token);
  let agent: EmbeddedAgent | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      await agent?.stop();
      await rm(dir, { recursive: true, force: true });
    })());
  // Ctrl-C reaches the agent too (same process group); both stop, and the folder goes.
  const onSignal = (signal: NodeJS.Signals) => {
    interruptedBy = signal;
    note(`rotation-window: ${signal}, stopping the agent`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await cp(path.join(repo, 'integrations'), path.join(dir, 'integrations'), { recursive: true });
    await cp(path.join(repo, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
    note(`rotation-window: starting the embedded agent (npm start) in ${dir}…`);
    agent = await startEmbeddedAgentProcess(dir, token);
    secretValues.add(agent.secretsCredentials.secretAccessKey);
    const store = new SecretsManagerClient({
      endpoint: agent.secretsEndpoint,
      region: agent.region,
      credentials: agent.secretsCredentials,
    });
    const read = await store.send(new GetSecretValueCommand({ SecretId: secretId }));
    const secret = JSON.parse(read.SecretString ?? '{}') as DemoSecret;
    secretValues.add(secret.password);
    if (!(await waitForQueries(agent.url, token, recoveryBoundMs)))
      throw new Error(`no query through demo-postgres succeeded within ${recoveryBoundMs} ms of the start`);

    const cases = casesFor(options.gaps);
    const rows: Row[] = [];
    const unrecovered: string[] = [];
    for (const [index, c] of cases.entries()) {
      const label = `${c.order}, ${c.terminate ? '' : 'not '}terminated, gap ${c.gapMs} ms`;
      note(`rotation-window: case ${index + 1}/${cases.length}: ${label}`);
      rows.push(await runCase(c, options, agent, token, store, secret));
      if (!(await waitForQueries(agent.url, token, recoveryBoundMs))) {
        unrecovered.push(label);
        note(`rotation-window: queries still failed ${recoveryBoundMs} ms after the case ${label}`);
      }
    }

    out(
      `credflow rotation window — ${options.loops} loops of POST ${queryPath} on the embedded agent, ${options.beforeMs} ms before the first step to ${options.afterMs} ms after the second; ${os.cpus().length} cores, Node ${process.version}`,
    );
    out();
    printTable(rows);
    for (const label of unrecovered) out(`(queries still failed ${recoveryBoundMs} ms after the case ${label})`);
    if (options.json) out(JSON.stringify({ rows }));
  } finally {
    await cleanUp();
  }
}

let options: Options;
try {
  options = readOptions();
} catch (error) {
  note(`rotation-window: ${(error as Error).message}`);
  process.exit(2);
}
try {
  await main(options);
} catch (error) {
  // Failed queries are figures; only a failed set-up (agent, secret, role session, /metrics) lands
  // here, or what an interruption cut short, which is no error of its own.
  if (!interruptedBy) note(`rotation-window: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
}
