import type { Logger } from 'pino';
import { MemoryWatchdog } from './memory-watchdog.js';
import { pickWorker } from './pick-worker.js';
import { spawnWorker, stopWorker, type WorkerProcess } from './worker-process.js';

export interface WorkerPoolOptions {
  /** Worker processes kept at most (reserved ones not counted). */
  size: number;
  prewarm: number;
  memoryMb: number;
  concurrency: number;
  maxRssMb?: number;
  logger: Logger;
  onStopped?: (reason: 'memory') => void;
  /** A message from a worker, unchecked. */
  onMessage: (worker: WorkerProcess, raw: unknown) => void;
  /** A worker exited: its runs are the caller's to settle or send again; returns how many it sent again. */
  onExit: (worker: WorkerProcess, how: string) => number;
}

/**
 * The sandbox worker processes: starting them (and their replacements), choosing one for a run,
 * retiring and stopping them, watching their memory, logging their exits. What runs in them is
 * SandboxWorkers' business.
 */
export class WorkerPool {
  private readonly workers: WorkerProcess[] = [];
  private readonly watchdog: MemoryWatchdog;
  private closed = false;
  private warmed = false;
  private turn = 0;

  constructor(private readonly options: WorkerPoolOptions) {
    this.watchdog = new MemoryWatchdog({
      ...options,
      watched: () => (this.closed ? [] : this.current()),
      onOver: (worker, rss, bound) => {
        // Which of its runs grew it cannot be told, so none is held at fault: each is sent once more
        // to a fresh worker, and the one that grows that worker too fails there.
        stopWorker(worker, 'WORKFLOW_FAILED', `its resident memory of ${rss} MB was over the bound of ${bound} MB`);
        (worker.stopped as NonNullable<WorkerProcess['stopped']>).memory = true;
        this.options.onStopped?.('memory');
      },
    });
  }

  /** Starts the workers now, and replacements for those that exit later. */
  warm(): void {
    this.warmed = true;
    while (!this.closed && this.pool().length < this.options.size) this.spawn(false);
  }

  /** A worker with a free slot for a new run (see pickWorker), started when needed; none: the run waits. */
  pick(): WorkerProcess | undefined {
    const picked = pickWorker(this.pool(), {
      size: this.options.size,
      concurrency: this.options.concurrency,
      nextTurn: () => this.turn++,
    });
    return picked === 'spawn' ? this.spawn(false) : picked;
  }

  /**
   * A worker for a run sent again after its worker died: a fresh one of its own, not one of the
   * others, which may be dying too (killed with it, their exit not yet seen while their channel still
   * looks open), and not beside the run that may have caused the death. Reserved workers number at
   * most the pool's size; past that, the least loaded of them takes the run.
   */
  reserved(): WorkerProcess {
    const reserved = this.workers.filter((w) => w.reserved && !w.stopped && w.child.connected);
    if (reserved.length < this.options.size) return this.spawn(true);
    return reserved.reduce((a, b) => (b.runs.size < a.runs.size ? b : a));
  }

  /**
   * A reserved worker whose runs are over is retired, not added to the pool: a run that made V8 give
   * up can still abort the process after it answered (a timeout), and the pool is refilled anyway.
   */
  retire(worker: WorkerProcess): void {
    worker.stopped = { code: 'WORKFLOW_FAILED', why: 'the runs it was started for are over', retired: true };
    worker.child.kill('SIGKILL');
  }

  /** The workers the agent is not stopping. */
  current(): WorkerProcess[] {
    return this.workers.filter((w) => !w.stopped);
  }

  /** Stops every worker and waits until each is gone, so a CLI command does not end with a half-closed agent. */
  async close(): Promise<void> {
    this.closed = true;
    this.watchdog.stop();
    await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.stopped = { code: 'WORKFLOW_FAILED', why: 'the agent is shutting down' };
            if (worker.child.exitCode !== null || worker.child.signalCode !== null) return resolve();
            worker.child.once('exit', () => resolve());
            worker.child.ref();
            worker.child.kill('SIGKILL');
          }),
      ),
    );
  }

  /** The workers that take new runs: not reserved for runs sent again, and not being stopped. */
  private pool(): WorkerProcess[] {
    return this.workers.filter((w) => !w.reserved && !w.stopped);
  }

  private spawn(reserved: boolean): WorkerProcess {
    const worker = spawnWorker({
      reserved,
      prewarm: this.options.prewarm,
      memoryMb: this.options.memoryMb,
      onMessage: this.options.onMessage,
      onError: (error) =>
        this.options.logger.warn({ event: 'sandbox.worker.error', error: error.message }, 'sandbox worker error'),
      onExit: (w, code, signal) => this.exited(w, code, signal),
    });
    this.workers.push(worker);
    this.watchdog.start();
    return worker;
  }

  private exited(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    const index = this.workers.indexOf(worker);
    if (index !== -1) this.workers.splice(index, 1);
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const resent = this.options.onExit(worker, how);
    if (this.closed) return;
    const { logger } = this.options;
    if (worker.stopped?.retired) {
      const line = { event: 'sandbox.worker.exit', pid: worker.child.pid, how, reason: worker.stopped.why };
      logger.debug(line, 'sandbox worker retired');
      return;
    }
    logger.warn(
      {
        event: 'sandbox.worker.exit',
        pid: worker.child.pid,
        how,
        reason: worker.stopped?.why,
        resentRuns: resent || undefined,
        stderr: worker.stderr.slice(-1000) || undefined,
      },
      'sandbox worker exited',
    );
    // A replacement is started off the request path (prepared isolates included) when the pool was warmed.
    if (this.warmed) setTimeout(() => this.warm(), 50).unref();
  }
}
