import autocannon from 'autocannon';
import type { BenchSetup } from './bench-setup.ts';
import { benchToken, startAgentProcess, startBaselineProcess } from './child-servers.ts';
import type { Ratio, Series } from './in-process.ts';
import { median, summarize } from './stats.ts';

const body = JSON.stringify({ sql: 'SELECT 1 AS one' });

async function load(url: string, headers: Record<string, string>, seconds: number, connections: number) {
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    connections,
    duration: seconds,
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return result;
}

export interface OverHttpResults {
  series: Series[];
  ratios: Ratio[];
  rssMbPer100Integrations: number;
}

/**
 * Throughput of credflow's query route against a minimal express + pg endpoint (each its own
 * process, the same autocannon load), and the agent's RSS growth over 100 distinct integrations.
 */
export async function measureOverHttp(
  setup: BenchSetup,
  rounds: number,
  seconds: number,
  connections: number,
): Promise<OverHttpResults> {
  const agent = await startAgentProcess(setup);
  const baseline = await startBaselineProcess(setup);
  const agentUrl = `${agent.url}/api/v1/integrations/cached/query`;
  const auth = { authorization: `Bearer ${benchToken}` };
  try {
    await load(agentUrl, auth, 1, connections);
    await load(`${baseline.url}/query`, {}, 1, connections);
    const agentRps: number[] = [];
    const baseRps: number[] = [];
    const agentLat: number[] = [];
    const baseLat: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const a = await load(agentUrl, auth, seconds, connections);
      const b = await load(`${baseline.url}/query`, {}, seconds, connections);
      agentRps.push(a.requests.average);
      baseRps.push(b.requests.average);
      agentLat.push(a.latency.p50);
      baseLat.push(b.latency.p50);
    }
    const series: Series[] = [
      {
        label: `express + pg endpoint over HTTP (${connections} connections)`,
        summary: summarize(baseLat),
        throughput: median(baseRps),
      },
      {
        label: `credflow POST /query over HTTP (${connections} connections)`,
        summary: summarize(agentLat),
        throughput: median(agentRps),
      },
    ];
    const ratios: Ratio[] = [
      { key: 'httpThroughputRatio', value: median(agentRps) / median(baseRps), goal: '>= 0.90' },
    ];
    return { series, ratios, rssMbPer100Integrations: await rssGrowth(setup) };
  } finally {
    await Promise.all([agent.stop(), baseline.stop()]);
  }
}

/** A fresh agent: RSS after its first query, then after resolving and querying 100 more integrations. */
async function rssGrowth(setup: BenchSetup): Promise<number> {
  const agent = await startAgentProcess(setup);
  try {
    const query = async (name: string) => {
      const res = await fetch(`${agent.url}/api/v1/integrations/${name}/query`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${benchToken}` },
        body,
      });
      if (res.status !== 200) throw new Error(`${name}: HTTP ${res.status}`);
      await res.arrayBuffer();
    };
    for (let i = 0; i < 20; i++) await query('cached');
    const before = await agent.rssMb();
    for (const name of setup.manyIntegrations) await query(name);
    return (await agent.rssMb()) - before;
  } finally {
    await agent.stop();
  }
}
