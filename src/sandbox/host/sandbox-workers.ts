import type { Logger } from 'pino';
import { CredflowError } from '../../errors.js';
import { checkSteps } from '../check-steps.js';
import { stepFailureError, type SandboxJob, type SandboxOutcome, type SandboxRunner } from '../contract.js';
import { limitBridge } from '../limit-bridge.js';
import { workerMessageSchema } from '../protocol.js';
import { acceptResult } from './accept-result.js';
import { relayBridgeCall } from './relay-bridge-call.js';
import { RunQueue } from './run-queue.js';
import { abandoned, failRun, type PendingRun, type RunRequest } from './run-request.js';
import { WorkerPool } from './worker-pool.js';
import { postTo, stopWorker, type WorkerProcess } from './worker-process.js';

/**
 * Workers a run is sent to at most: when its first worker dies and the run was not the cause, it is
 * sent once more, to a fresh worker. A run that loses a second worker fails.
 */
const MAX_ATTEMPTS = 2;

export interface SandboxWorkersOptions {
  /** Worker processes kept at most. */
  size: number;
  /** Isolates each worker prepares ahead of time. */
  prewarm: number;
  /** Runs one worker executes at once (each in an isolate of its own); default 4. */
  concurrency?: number;
  /** Runs waiting for a free worker at most; past it a run is refused with SANDBOX_BUSY. Default 64. */
  queueMax?: number;
  /** Memory limit of the prepared isolates. */
  memoryMb: number;
  logger: Logger;
  /** How long past a run's deadline a silent worker is given before it is killed. */
  graceMs?: number;
  /**
   * Resident memory (MB) past which a worker is stopped, idle or not; 0 or absent: derived, see
   * defaultWorkerMaxRssMb. Read from /proc; where there is none, workers are not watched.
   */
  maxRssMb?: number;
  /** Called when the agent stops a worker for the reason given (for metrics). */
  onStopped?: (reason: 'memory') => void;
}

/**
 * Runs sandboxes in a small pool of worker processes, so that code escaping or crashing isolated-vm
 * lands in a process that holds no credentials, connections or other integrations' secrets. Bridge
 * calls come back to this process, where the run's budget and deadline are enforced again and the
 * real handler (zod validation, allowlist, AWS SDK) runs. When a worker dies, the run that caused it
 * (when the agent stopped it for one run) fails; every other run it held is sent once more, each to
 * a fresh worker of its own, within its deadline (a workflow run only reads secrets, so running it
 * again is safe). A run that loses that second worker too fails: it is taken to be the cause.
 * This class follows runs through their lifecycle; the processes (worker-pool.ts), the queue
 * (run-queue.ts), bridge calls (relay-bridge-call.ts) and results (accept-result.ts) are modules of
 * their own.
 */
export class SandboxWorkers implements SandboxRunner {
  private readonly workers: WorkerPool;
  private readonly queue: RunQueue;
  private readonly graceMs: number;
  private nextId = 1;
  private closed = false;

  constructor(options: SandboxWorkersOptions) {
    const concurrency = options.concurrency ?? 4;
    this.graceMs = options.graceMs ?? 2000;
    this.queue = new RunQueue(options.queueMax ?? 64, concurrency);
    this.workers = new WorkerPool({
      ...options,
      concurrency,
      onMessage: (worker, raw) => this.receive(worker, raw),
      onExit: (worker, how) => this.exited(worker, how),
    });
  }

  /** Starts the workers now (the agent's server does), so the first run does not pay for it. */
  warm(): void {
    if (!this.closed) this.workers.warm();
  }

  /**
   * Sends the run to a worker with a free slot (each worker runs at most `concurrency` at once), or
   * queues it. A queued run's deadline runs while it waits; a full queue refuses it with SANDBOX_BUSY.
   */
  run(job: SandboxJob): Promise<SandboxOutcome> {
    return new Promise<SandboxOutcome>((settle) => {
      if (this.closed) {
        const error = new CredflowError('WORKFLOW_FAILED', 'the agent is shutting down; no workflow runs are started');
        failRun({ settle }, error);
        return;
      }
      const refused = checkSteps(job.workflow, job.steps);
      if (refused) {
        failRun({ settle }, stepFailureError(refused));
        return;
      }
      const deadline = Date.now() + job.limits.runTimeoutMs;
      const bridge = limitBridge(job.bridge, job.limits, deadline);
      const request: RunRequest = { job, attempt: 1, deadline, settle, bridge };
      const worker = this.queue.size === 0 ? this.workers.pick() : undefined;
      if (worker) this.dispatch(request, worker);
      else this.queue.add(request);
    });
  }

  /** Runs waiting for a worker (for tests, status and metrics). */
  queued(): number {
    return this.queue.size;
  }

  /** Worker process ids, without those the agent is stopping (for tests and status). */
  pids(): number[] {
    return this.workers.current().map((w) => w.child.pid ?? -1);
  }

  /**
   * Each worker's pid, how many runs it holds and how many of them it has taken, whether it serves
   * runs sent again only, and the workflows of its runs (for tests and status).
   */
  status(): { pid: number; runs: number; started: number; reserved: boolean; workflows: string[] }[] {
    return this.workers.current().map((w) => {
      const runs = [...w.runs.values()];
      return {
        pid: w.child.pid ?? -1,
        runs: runs.length,
        started: runs.filter((r) => r.started).length,
        reserved: w.reserved,
        workflows: runs.map((r) => r.job.workflow),
      };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.close();
    await this.workers.close();
  }

  /** Sends queued runs, oldest first, to workers with a free slot. */
  private drain(): void {
    while (this.queue.size > 0 && !this.closed) {
      const worker = this.workers.pick();
      if (!worker) return;
      this.dispatch(this.queue.take() as RunRequest, worker);
    }
  }

  private dispatch(request: RunRequest, worker: WorkerProcess): void {
    const { job } = request;
    const id = this.nextId++;
    // A run sent again keeps its first deadline: the worker and the bridge get the time that is left.
    const left = Math.max(1, request.deadline - Date.now());
    const pending: PendingRun = {
      ...request,
      started: false,
      timer: setTimeout(() => {
        // Its time is over: it is the run at fault, fails with the timeout and is not sent anywhere else.
        const why = `it did not finish workflow "${job.workflow}" within the run's time limit of ${job.limits.runTimeoutMs} ms`;
        stopWorker(worker, 'WORKFLOW_TIMEOUT', why, id);
      }, left + this.graceMs),
    };
    worker.runs.set(id, pending);
    const sent = postTo(worker, {
      type: 'run',
      id,
      workflow: job.workflow,
      steps: job.steps.map((s) => ({ name: s.name, code: s.code })),
      input: job.input,
      limits: job.limits,
      ...(request.attempt === 1 && !request.queued ? {} : { timeLeftMs: left }),
    });
    if (!sent) {
      worker.runs.delete(id);
      clearTimeout(pending.timer);
      const why = worker.child.connected
        ? 'its input cannot be sent to the sandbox (nested too deeply?)'
        : 'its sandbox worker has just stopped; try again';
      failRun(
        request,
        new CredflowError('WORKFLOW_FAILED', `workflow "${job.workflow}" could not start: ${why}`, {
          details: { workflow: job.workflow },
        }),
      );
    }
  }

  private receive(worker: WorkerProcess, raw: unknown): void {
    const parsed = workerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      // The run the message is about is the one at fault; the worker's other runs are sent again.
      const about = (raw as { id?: unknown } | null)?.id;
      const run = typeof about === 'number' && worker.runs.has(about) ? about : undefined;
      stopWorker(worker, 'WORKFLOW_FAILED', 'it sent a message the agent does not accept', run);
      return;
    }
    const message = parsed.data;
    if (message.type === 'ready') {
      worker.busy = false;
      return;
    }
    const run = worker.runs.get(message.id);
    if (message.type === 'started') {
      if (run) run.started = true;
      return;
    }
    if (message.type === 'bridge') {
      relayBridgeCall(run, message, (answer) => postTo(worker, answer));
      return;
    }
    if (!run) return;
    worker.runs.delete(message.id);
    clearTimeout(run.timer);
    // It now disposes the run's isolate and prepares the next; 'ready' says when that is done.
    worker.busy = true;
    if (worker.reserved && worker.runs.size === 0) this.workers.retire(worker);
    // A slot is free: the oldest queued run takes it (settled below, after this turn's bookkeeping).
    this.drain();
    run.settle(acceptResult(message, run.job));
  }

  /** Sends a run again after its worker died, to a worker reserved for such runs (WorkerPool.reserved). */
  private resend(run: PendingRun): void {
    const { job, deadline, settle, bridge } = run;
    this.dispatch({ job, attempt: run.attempt + 1, deadline, settle, bridge }, this.workers.reserved());
  }

  /** Settles, or sends again, the runs of a worker that exited; returns how many were sent again. */
  private exited(worker: WorkerProcess, how: string): number {
    const resend: PendingRun[] = [];
    for (const [id, run] of worker.runs) {
      worker.runs.delete(id);
      clearTimeout(run.timer);
      // Unless it is the run the agent stopped the worker for, a run did not (as far as the agent can
      // tell) cause the worker's death: it is sent once more, while its time lasts.
      const atFault = worker.stopped?.run === id;
      if (!atFault && run.attempt < MAX_ATTEMPTS && !this.closed && run.deadline > Date.now()) resend.push(run);
      else failRun(run, abandoned(run.job.workflow, worker.stopped, how));
    }
    for (const run of resend) this.resend(run);
    // Its slots are gone; a new worker takes queued runs (the pool is below its size now).
    if (!this.closed) this.drain();
    return resend.length;
  }
}
