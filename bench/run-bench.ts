import os from 'node:os';
import { setUpBench } from './bench-setup.ts';
import { measureInProcess, type Ratio, type Series } from './in-process.ts';
import { measureOverHttp } from './over-http.ts';

/**
 * `npm run bench`: starts an embedded PostgreSQL and the local Secrets Manager endpoint, measures
 * credflow against its limits side by side in one run, prints a table, and with --json ends with
 * one JSON line of the figures.
 */
const json = process.argv.includes('--json');
const rounds = 5;
const httpRounds = 5;
const httpSeconds = 3;
const connections = 10;
const out = (line = '') => process.stdout.write(`${line}\n`);
const started = performance.now();

const setup = await setUpBench({ coldRounds: 3, many: 100 });
let series: Series[];
let ratios: Ratio[];
let singleFlightWorkflowRuns: number;
let rssMbPer100Integrations: number;
try {
  const inProcess = await measureInProcess(setup, rounds);
  const overHttp = await measureOverHttp(setup, httpRounds, httpSeconds, connections);
  series = [...inProcess.series, ...overHttp.series];
  ratios = [...inProcess.ratios, ...overHttp.ratios];
  singleFlightWorkflowRuns = inProcess.singleFlightWorkflowRuns;
  rssMbPer100Integrations = overHttp.rssMbPer100Integrations;
} finally {
  await setup.stop();
}

const pad = (text: string, width: number) => text.padEnd(width);
const ms = (value: number) => `${value.toFixed(3)} ms`;
out(
  `credflow benchmark — ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}`,
);
out(
  `Latency series: ${rounds} rounds after a warm-up, medians of the rounds; HTTP: ${httpRounds} rounds of ${httpSeconds} s, autocannon, ${connections} connections.`,
);
out();
out(`${pad('series', 62)}${pad('median', 14)}${pad('p99', 14)}throughput`);
for (const s of series) {
  const throughput =
    s.throughput !== undefined
      ? `${Math.round(s.throughput)} req/s`
      : `${Math.round(1000 / s.summary.median)} ops/s (sequential)`;
  out(`${pad(s.label, 62)}${pad(ms(s.summary.median), 14)}${pad(ms(s.summary.p99), 14)}${throughput}`);
}
out();
out(`${pad('ratio', 26)}${pad('value', 12)}goal`);
for (const r of ratios) out(`${pad(r.key, 26)}${pad(r.value.toFixed(3), 12)}${r.goal}`);
out(
  `${pad('singleFlightWorkflowRuns', 26)}${pad(String(singleFlightWorkflowRuns), 12)}1 (1000 concurrent queries on a cold integration)`,
);
out(`${pad('rssMbPer100Integrations', 26)}${pad(rssMbPer100Integrations.toFixed(1), 12)}<= 150`);
out();
out(`total time ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (json) {
  const figures: Record<string, number> = Object.fromEntries(ratios.map((r) => [r.key, Number(r.value.toFixed(4))]));
  figures.singleFlightWorkflowRuns = singleFlightWorkflowRuns;
  figures.rssMbPer100Integrations = Number(rssMbPer100Integrations.toFixed(1));
  out(JSON.stringify(figures));
}
