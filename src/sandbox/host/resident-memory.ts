import { readFileSync } from 'node:fs';

/** Node itself and what a worker holds besides its isolates' heaps (code, bootstrap, IPC buffers). */
const WORKER_BASE_MB = 256;

/**
 * The resident memory a sandbox worker may hold: each isolate it can hold at once (a slot per
 * concurrent run, plus the prepared ones) within its memory limit, plus Node itself. With the
 * defaults (4 + 1) x 64 + 256 = 576 MB.
 */
export function defaultWorkerMaxRssMb(options: { concurrency: number; prewarm: number; memoryMb: number }): number {
  return (options.concurrency + options.prewarm) * options.memoryMb + WORKER_BASE_MB;
}

/**
 * The least bound a worker can live under: Node itself with its prepared isolates and one run. A
 * smaller one would stop every worker as it starts, and the next, without end.
 */
export function leastWorkerMaxRssMb(options: { prewarm: number; memoryMb: number }): number {
  return (options.prewarm + 1) * options.memoryMb + WORKER_BASE_MB;
}

/**
 * A process's resident memory in MB (VmRSS in /proc/<pid>/status), or undefined when it cannot be
 * read: no /proc (not Linux), or the process is gone. A small file the kernel writes on read, so
 * reading it synchronously does not wait on a disk.
 */
export function residentMemoryMb(pid: number | 'self'): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
}
