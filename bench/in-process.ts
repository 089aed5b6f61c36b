import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { openSync, writeSync } from 'node:fs';
import { BufferedDestination } from '#credflow/logging/index.js';
import { openAgent, type AgentParts, type ComposedAgent } from '#credflow/agent/index.js';
import type { BenchSetup } from './bench-setup.ts';
import { median, summarize, timeSequential, type Summary } from './stats.ts';

export interface Series {
  label: string;
  summary: Summary;
  /** Operations per second, when the series measures throughput. */
  throughput?: number;
}

export interface Ratio {
  key: string;
  value: number;
  goal: string;
}

const devNull = openSync('/dev/null', 'w');

/** An in-process agent over the bench config, logging as it does to stdout but to /dev/null (built, masked, batched and written all the same). */
export async function openBenchAgent(setup: BenchSetup, env: Record<string, string> = {}): Promise<ComposedAgent> {
  const { agent, parts } = await openAgent({
    dir: setup.dir,
    env: { CREDFLOW_LOG_LEVEL: 'info', ...env },
    secrets: { endpoint: setup.secrets.url, defaultRegion: 'us-east-1', defaultCredentials: setup.secrets.credentials },
    logDestination: new BufferedDestination({ write: (text: string) => writeSync(devNull, text) }),
  });
  return { agent, parts };
}

/** Several rounds of A and B measured alternately; each round's medians, then the median of the rounds. */
async function sideBySide(
  rounds: number,
  count: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<{ a: number[]; b: number[]; aMedians: number[]; bMedians: number[] }> {
  const all = { a: [] as number[], b: [] as number[], aMedians: [] as number[], bMedians: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const sa = await timeSequential(count, a);
    const sb = await timeSequential(count, b);
    all.a.push(...sa);
    all.b.push(...sb);
    all.aMedians.push(median(sa));
    all.bMedians.push(median(sb));
  }
  return all;
}

export interface InProcessResults {
  series: Series[];
  ratios: Ratio[];
  singleFlightWorkflowRuns: number;
}

/** Query overhead, caching on/off, sandbox cold/warm and single-flight, measured in this process. */
export async function measureInProcess(setup: BenchSetup, rounds: number): Promise<InProcessResults> {
  const series: Series[] = [];
  const ratios: Ratio[] = [];

  // --- query overhead: credflow (cached resolve + pool + SELECT 1) against a direct pg.Pool -------
  const { agent, parts } = await openBenchAgent(setup);
  const direct = new pg.Pool({
    host: setup.demo.host,
    port: setup.demo.port,
    user: setup.demo.username,
    password: setup.demo.password,
    database: setup.demo.dbname,
    max: 10,
  });
  const viaCredflow = () => agent.query('cached', 'SELECT 1', []);
  const viaPg = () => direct.query('SELECT 1');
  await timeSequential(500, viaCredflow);
  await timeSequential(500, viaPg);
  const overhead = await sideBySide(rounds, 2000, viaPg, viaCredflow);
  series.push({ label: 'direct pg.Pool SELECT 1', summary: summarize(overhead.a) });
  series.push({ label: 'credflow query, cached (resolve + pool + SELECT 1)', summary: summarize(overhead.b) });
  ratios.push({
    key: 'queryOverheadRatio',
    value: median(overhead.bMedians) / median(overhead.aMedians),
    goal: '<= 1.05',
  });

  // --- the anchor's way: the workflow before every query ------------------------------------------
  const uncachedOp = () => agent.query('uncached', 'SELECT 1', []);
  await timeSequential(50, uncachedOp);
  const caching = await sideBySide(rounds, 200, uncachedOp, viaCredflow);
  series.push({ label: 'credflow query, workflow before every query (no cache)', summary: summarize(caching.a) });
  ratios.push({
    key: 'uncachedVsCachedRatio',
    value: median(caching.aMedians) / median(caching.bMedians),
    goal: 'reported (>> 1)',
  });

  // --- one-step workflow with one GetSecretValue: fresh sandbox, warm sandbox, bare SDK call ---------
  const sdk = new SecretsManagerClient({
    region: 'us-east-1',
    endpoint: setup.secrets.url,
    credentials: setup.secrets.credentials,
  });
  const bare = () => sdk.send(new GetSecretValueCommand({ SecretId: 'postgresSecrets' }));
  const { agent: coldAgent } = await openBenchAgent(setup, { CREDFLOW_SANDBOX_PREWARM: '0' });
  // Warm: the agent's defaults (each sandbox worker keeps a prepared isolate and refills after each run).
  const { agent: warmAgent } = await openBenchAgent(setup);
  const coldRun = () => coldAgent.previewWorkflow('getSecrets');
  const warmRun = () => warmAgent.previewWorkflow('getSecrets');
  await timeSequential(100, bare);
  await timeSequential(50, coldRun);
  await timeSequential(50, warmRun);
  const bareMedians: number[] = [];
  const coldMedians: number[] = [];
  const warmMedians: number[] = [];
  const bareAll: number[] = [];
  const coldAll: number[] = [];
  const warmAll: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const b = await timeSequential(200, bare);
    const c = await timeSequential(200, coldRun);
    const w = await timeSequential(200, warmRun);
    bareMedians.push(median(b));
    coldMedians.push(median(c));
    warmMedians.push(median(w));
    bareAll.push(...b);
    coldAll.push(...c);
    warmAll.push(...w);
  }
  series.push({ label: 'bare GetSecretValue through the AWS SDK', summary: summarize(bareAll) });
  series.push({ label: 'workflow run, 1 step + 1 GetSecretValue, fresh sandbox', summary: summarize(coldAll) });
  series.push({ label: 'workflow run, same, pre-created isolate and context', summary: summarize(warmAll) });
  ratios.push({ key: 'coldWorkflowRatio', value: median(coldMedians) / median(bareMedians), goal: '<= 3' });
  ratios.push({ key: 'warmWorkflowRatio', value: median(warmMedians) / median(bareMedians), goal: '<= 1.5' });

  // --- single-flight: 1000 concurrent queries on a cold integration ---------------------------------
  const runsPerRound: number[] = [];
  for (const name of setup.coldIntegrations) {
    const before = await workflowRuns(parts);
    const results = await Promise.allSettled(Array.from({ length: 1000 }, () => agent.query(name, 'SELECT 1', [])));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) throw new Error(`single-flight round on ${name}: ${failed} of 1000 queries failed`);
    runsPerRound.push((await workflowRuns(parts)) - before);
  }

  await Promise.all([agent.close(), coldAgent.close(), warmAgent.close(), direct.end()]);
  sdk.destroy();
  return { series, ratios, singleFlightWorkflowRuns: Math.max(...runsPerRound) };
}

/** Total workflow runs so far, from the agent's own metrics. */
async function workflowRuns(parts: AgentParts): Promise<number> {
  const metric = await parts.metrics.workflowRuns.get();
  return metric.values.filter((v) => v.metricName?.endsWith('_count')).reduce((sum, v) => sum + v.value, 0);
}
