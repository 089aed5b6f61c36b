import type { Logger } from 'pino';
import { defaultWorkerMaxRssMb, leastWorkerMaxRssMb, residentMemoryMb } from './resident-memory.js';
import type { WorkerProcess } from './worker-process.js';

/** How often the resident memory of the workers is read. */
const MEMORY_WATCH_MS = 250;

export interface MemoryWatchdogOptions {
  /** The configured bound (MB); 0 or absent: derived, see defaultWorkerMaxRssMb. */
  maxRssMb?: number;
  concurrency: number;
  prewarm: number;
  memoryMb: number;
  logger: Logger;
  /** The workers to watch now; none: the watchdog stops until started again. */
  watched: () => readonly WorkerProcess[];
  /** Called for each watched worker over the bound. */
  onOver: (worker: WorkerProcess, rssMb: number, boundMb: number) => void;
}

/**
 * Reads the resident memory of every watched worker every MEMORY_WATCH_MS, while there is one: idle
 * ones too, as a run that failed at its time limit can leave its worker growing. isolated-vm's memory
 * limit alone does not bound a worker on Node 24: a step filling a huge array grows the process past
 * 1 GB for many seconds before V8 aborts it.
 */
export class MemoryWatchdog {
  /** Resident memory (MB) a worker may hold; undefined where it cannot be read (no /proc). */
  private readonly bound: number | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: MemoryWatchdogOptions) {
    const least = leastWorkerMaxRssMb(options);
    let bound = options.maxRssMb || defaultWorkerMaxRssMb(options);
    if (bound < least) {
      options.logger.warn(
        { event: 'sandbox.worker.memory', maxRssMb: bound, leastMb: least },
        `CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB of ${bound} MB is below what a worker needs to start (${least} MB: Node, its prepared isolates and one run); using ${least} MB`,
      );
      bound = least;
    }
    if (residentMemoryMb('self') === undefined) {
      options.logger.warn(
        { event: 'sandbox.worker.memory', maxRssMb: bound },
        'no /proc/<pid>/status here: the resident memory of sandbox workers is not watched',
      );
    } else {
      this.bound = bound;
    }
  }

  /** Starts watching (a worker was started), unless it already does or cannot. */
  start(): void {
    if (this.bound === undefined || this.timer !== undefined) return;
    const bound = this.bound;
    this.timer = setInterval(() => this.check(bound), MEMORY_WATCH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(bound: number): void {
    const watched = this.options.watched();
    if (watched.length === 0) {
      this.stop();
      return;
    }
    for (const worker of watched) {
      const rss = worker.child.pid === undefined ? undefined : residentMemoryMb(worker.child.pid);
      if (rss !== undefined && rss > bound) this.options.onOver(worker, rss, bound);
    }
  }
}
