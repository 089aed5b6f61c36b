import { CredflowError } from '../../errors.js';
import { failRun, type RunRequest } from './run-request.js';

/** A run waiting for a worker with a free slot; its deadline runs while it waits. */
interface QueuedRun {
  request: RunRequest;
  timer: NodeJS.Timeout;
}

/**
 * Runs waiting for a worker with a free slot, oldest first. Bounded: past `max` waiting runs a run is
 * refused with SANDBOX_BUSY (retryable); a run whose deadline passes while it waits fails with
 * WORKFLOW_TIMEOUT without starting.
 */
export class RunQueue {
  private readonly waiting: QueuedRun[] = [];

  constructor(
    private readonly max: number,
    private readonly concurrency: number,
  ) {}

  get size(): number {
    return this.waiting.length;
  }

  add(request: RunRequest): void {
    const { job } = request;
    if (this.waiting.length >= this.max) {
      failRun(
        request,
        new CredflowError(
          'SANDBOX_BUSY',
          `workflow "${job.workflow}" was not started: every sandbox worker runs its most runs at once (${this.concurrency}) and ${this.max} runs are waiting; try again shortly`,
          { details: { workflow: job.workflow, queueMax: this.max, retryAfterSeconds: 1 } },
        ),
      );
      return;
    }
    const entry: QueuedRun = {
      request: { ...request, queued: true },
      timer: setTimeout(
        () => {
          const index = this.waiting.indexOf(entry);
          if (index !== -1) this.waiting.splice(index, 1);
          failRun(
            request,
            new CredflowError(
              'WORKFLOW_TIMEOUT',
              `workflow "${job.workflow}" waited for a sandbox worker past its run's time limit of ${job.limits.runTimeoutMs} ms and did not start`,
              { details: { workflow: job.workflow, queued: true } },
            ),
          );
        },
        Math.max(0, request.deadline - Date.now()),
      ),
    };
    this.waiting.push(entry);
  }

  /** The oldest waiting run, no longer timed here. */
  take(): RunRequest | undefined {
    const next = this.waiting.shift();
    if (!next) return undefined;
    clearTimeout(next.timer);
    return next.request;
  }

  /** Fails every waiting run: the agent is shutting down. */
  close(): void {
    for (const { request, timer } of this.waiting.splice(0)) {
      clearTimeout(timer);
      failRun(
        request,
        new CredflowError(
          'WORKFLOW_FAILED',
          `workflow "${request.job.workflow}" was not started: the agent is shutting down`,
          { details: { workflow: request.job.workflow } },
        ),
      );
    }
  }
}
