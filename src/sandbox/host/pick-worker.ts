import type { WorkerProcess } from './worker-process.js';

/**
 * Where a new run goes: an idle worker that is not busy preparing isolates; else a new worker
 * ('spawn') while the pool is below its size; else the least loaded of those with a free slot (each
 * runs at most `concurrency` at once); else none (the run waits). A worker whose channel has closed
 * (it is gone, and its exit is on its way) takes no run.
 */
export function pickWorker(
  pool: readonly WorkerProcess[],
  options: { size: number; concurrency: number; nextTurn: () => number },
): WorkerProcess | 'spawn' | undefined {
  const idle = pool.find((w) => w.runs.size === 0 && !w.busy && w.child.connected);
  if (idle) return idle;
  if (pool.length < options.size) return 'spawn';
  const live = pool.filter((w) => w.child.connected);
  if (live.length === 0) return 'spawn';
  const open = live.filter((w) => w.runs.size < options.concurrency);
  if (open.length === 0) return undefined;
  // The least loaded; among equals, the next in turn, so a worker kept busy by back-to-back runs
  // gets time to prepare its isolates while the others take the runs.
  const load = (w: WorkerProcess) => w.runs.size + (w.busy ? 0.5 : 0);
  const least = Math.min(...open.map(load));
  const equals = open.filter((w) => load(w) === least);
  return equals[options.nextTurn() % equals.length];
}
