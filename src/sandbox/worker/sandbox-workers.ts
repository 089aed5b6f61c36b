import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { CredflowError, truncate } from '../../errors.js';
import {
  BridgeError,
  checkStepCount,
  limitBridge,
  StepFailure,
  type BridgeHandler,
  type SandboxRunOptions,
  type SandboxRunResult,
} from '../run-in-sandbox.js';
import { capRunLogs } from '../run-logs.js';
import { workerMessageSchema, type AgentMessage } from './protocol.js';
import { defaultWorkerMaxRssMb, leastWorkerMaxRssMb, residentMemoryMb } from './resident-memory.js';
import { workerEntryPath } from './worker-entry.js';

/**
 * Workers a run is sent to at most: when its first worker dies and the run was not the cause, it is
 * sent once more, to a fresh worker. A run that loses a second worker fails.
 */
const MAX_ATTEMPTS = 2;

/** How often the resident memory of the workers is read. */
const MEMORY_WATCH_MS = 250;

/** A run's options without the in-process isolate source: where isolates come from is the worker's business. */
export type SandboxJob = Omit<SandboxRunOptions, 'isolates' | 'timeLeftMs'>;

/** Something that runs a workflow's steps in a sandbox: in this process, or in a worker process. */
export interface SandboxRunner {
  run(job: SandboxJob): Promise<SandboxRunResult>;
}

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

/** A run the caller waits for, across the workers it is sent to. */
interface RunRequest {
  job: SandboxJob;
  /** Workers the run was sent to so far, this one included. */
  attempt: number;
  /** When its time is over (Date.now() clock), the same for every worker it is sent to. */
  deadline: number;
  resolve: (result: SandboxRunResult) => void;
  reject: (error: Error) => void;
  /**
   * The run's bridge, held to its budget and deadline: one for every worker it is sent to, so a run
   * sent again after a crash has only the calls its first attempt left.
   */
  bridge: BridgeHandler;
  /** It waited in the queue: its worker gets what is left of its time. */
  queued?: boolean;
}

/** A run waiting for a worker with a free slot; its deadline runs while it waits. */
interface QueuedRun {
  request: RunRequest;
  timer: NodeJS.Timeout;
}

/** A run sent to one worker. */
interface PendingRun extends RunRequest {
  /** The worker said it took the run (or asked for a call in it): from then on its code may have run. */
  started: boolean;
  timer: NodeJS.Timeout;
}

interface Worker {
  child: ChildProcess;
  runs: Map<number, PendingRun>;
  stderr: string;
  /** Preparing isolates or disposing the last one: it answers later than an idle worker would. */
  busy: boolean;
  /**
   * Started for runs sent again after their worker died: it takes no other run, and it is retired
   * once they are over (one of them may have caused the death, and may yet cause this one's).
   */
  reserved: boolean;
  /** Why the agent stopped this worker, when it did, and the run that was the cause, when one was. */
  stopped?: {
    code: 'WORKFLOW_FAILED' | 'WORKFLOW_TIMEOUT';
    why: string;
    run?: number;
    retired?: boolean;
    memory?: boolean;
  };
}

/**
 * Runs sandboxes in a small pool of worker processes, so that code escaping or crashing isolated-vm
 * lands in a process that holds no credentials, connections or other integrations' secrets. Bridge
 * calls come back to this process, where the run's budget and deadline are enforced again and the
 * real handler (zod validation, allowlist, AWS SDK) runs. When a worker dies, the run that caused it
 * (when the agent stopped it for one run) fails; every other run it held is sent once more, each to
 * a fresh worker of its own, within its deadline (a workflow run only reads secrets, so running it
 * again is safe). A run that loses that second worker too fails: it is taken to be the cause.
 */
export class SandboxWorkers implements SandboxRunner {
  private readonly workers: Worker[] = [];
  private readonly queue: QueuedRun[] = [];
  private nextId = 1;
  private closed = false;
  private warmed = false;
  private turn = 0;
  /** Resident memory (MB) a worker may hold; undefined where it cannot be read (no /proc). */
  private readonly maxRssMb: number | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(private readonly options: SandboxWorkersOptions) {
    const least = leastWorkerMaxRssMb(options);
    let bound =
      options.maxRssMb ||
      defaultWorkerMaxRssMb({ concurrency: this.concurrency, prewarm: options.prewarm, memoryMb: options.memoryMb });
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
      this.maxRssMb = bound;
    }
  }

  /** Starts the workers now (the agent's server does), so the first run does not pay for it. */
  warm(): void {
    this.warmed = true;
    while (!this.closed && this.pool().length < this.options.size) this.spawn(false);
  }

  /**
   * Sends the run to a worker with a free slot (each worker runs at most `concurrency` at once), or
   * queues it. A queued run's deadline runs while it waits; a full queue refuses it with SANDBOX_BUSY.
   */
  run(job: SandboxJob): Promise<SandboxRunResult> {
    return new Promise<SandboxRunResult>((resolve, reject) => {
      if (this.closed) {
        reject(new CredflowError('WORKFLOW_FAILED', 'the agent is shutting down; no workflow runs are started'));
        return;
      }
      try {
        checkStepCount(job.workflow, job.steps);
      } catch (error) {
        reject(error as Error);
        return;
      }
      const deadline = Date.now() + job.limits.runTimeoutMs;
      const request: RunRequest = {
        job,
        attempt: 1,
        deadline,
        resolve,
        reject,
        bridge: limitBridge(job.bridge, job.limits, deadline),
      };
      const worker = this.queue.length === 0 ? this.pick() : undefined;
      if (worker) {
        this.dispatch(request, worker);
        return;
      }
      this.enqueue(request);
    });
  }

  /** Runs waiting for a worker (for tests, status and metrics). */
  queued(): number {
    return this.queue.length;
  }

  private get concurrency(): number {
    return this.options.concurrency ?? 4;
  }

  private enqueue(request: RunRequest): void {
    const { job } = request;
    const queueMax = this.options.queueMax ?? 64;
    if (this.queue.length >= queueMax) {
      request.reject(
        new CredflowError(
          'SANDBOX_BUSY',
          `workflow "${job.workflow}" was not started: every sandbox worker runs its most runs at once (${this.concurrency}) and ${queueMax} runs are waiting; try again shortly`,
          { details: { workflow: job.workflow, queueMax, retryAfterSeconds: 1 } },
        ),
      );
      return;
    }
    const entry: QueuedRun = {
      request: { ...request, queued: true },
      timer: setTimeout(
        () => {
          const index = this.queue.indexOf(entry);
          if (index !== -1) this.queue.splice(index, 1);
          request.reject(
            new CredflowError(
              'WORKFLOW_TIMEOUT',
              `workflow "${job.workflow}" waited for a sandbox worker past its run's time limit of ${job.limits.runTimeoutMs} ms and did not start`,
              {
                details: { workflow: job.workflow, queued: true },
              },
            ),
          );
        },
        Math.max(0, request.deadline - Date.now()),
      ),
    };
    this.queue.push(entry);
  }

  /** Sends queued runs, oldest first, to workers with a free slot. */
  private drain(): void {
    while (this.queue.length > 0 && !this.closed) {
      const worker = this.pick();
      if (!worker) return;
      const next = this.queue.shift() as QueuedRun;
      clearTimeout(next.timer);
      this.dispatch(next.request, worker);
    }
  }

  private dispatch(request: RunRequest, worker: Worker): void {
    const { job } = request;
    const id = this.nextId++;
    // A run sent again keeps its first deadline: the worker and the bridge get the time that is left.
    const left = Math.max(1, request.deadline - Date.now());
    const pending: PendingRun = {
      ...request,
      started: false,
      timer: setTimeout(
        () => {
          // Its time is over: it is the run at fault, fails with the timeout and is not sent anywhere else.
          this.stop(
            worker,
            'WORKFLOW_TIMEOUT',
            `it did not finish workflow "${job.workflow}" within the run's time limit of ${job.limits.runTimeoutMs} ms`,
            id,
          );
        },
        left + (this.options.graceMs ?? 2000),
      ),
    };
    worker.runs.set(id, pending);
    const sent = this.post(worker, {
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
      request.reject(
        new CredflowError('WORKFLOW_FAILED', `workflow "${job.workflow}" could not start: ${why}`, {
          details: { workflow: job.workflow },
        }),
      );
    }
  }

  /** Worker process ids, without those the agent is stopping (for tests and status). */
  pids(): number[] {
    return this.current().map((w) => w.child.pid ?? -1);
  }

  /**
   * Each worker's pid, how many runs it holds and how many of them it has taken, whether it serves
   * runs sent again only, and the workflows of its runs (for tests and status).
   */
  status(): { pid: number; runs: number; started: number; reserved: boolean; workflows: string[] }[] {
    return this.current().map((w) => {
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
    clearInterval(this.watchdog);
    for (const { request, timer } of this.queue.splice(0)) {
      clearTimeout(timer);
      request.reject(
        new CredflowError(
          'WORKFLOW_FAILED',
          `workflow "${request.job.workflow}" was not started: the agent is shutting down`,
          { details: { workflow: request.job.workflow } },
        ),
      );
    }
    await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.stopped = { code: 'WORKFLOW_FAILED', why: 'the agent is shutting down' };
            if (worker.child.exitCode !== null || worker.child.signalCode !== null) return resolve();
            worker.child.once('exit', () => resolve());
            // Held until it is gone, so a CLI command does not end with a half-closed agent.
            worker.child.ref();
            worker.child.kill('SIGKILL');
          }),
      ),
    );
  }

  /** The workers the agent is not stopping. */
  private current(): Worker[] {
    return this.workers.filter((w) => !w.stopped);
  }

  /** The workers that take new runs: not reserved for runs sent again, and not being stopped. */
  private pool(): Worker[] {
    return this.workers.filter((w) => !w.reserved && !w.stopped);
  }

  /**
   * An idle worker that is not busy preparing isolates; else a new one; else the least loaded of
   * those with a free slot; else none (the run waits). A worker whose channel has closed (it is gone,
   * and its exit is on its way) takes no run.
   */
  private pick(): Worker | undefined {
    const pool = this.pool();
    const idle = pool.find((w) => w.runs.size === 0 && !w.busy && w.child.connected);
    if (idle) return idle;
    if (pool.length < this.options.size) return this.spawn(false);
    const live = pool.filter((w) => w.child.connected);
    if (live.length === 0) return this.spawn(false);
    const open = live.filter((w) => w.runs.size < this.concurrency);
    if (open.length === 0) return undefined;
    // The least loaded; among equals, the next in turn, so a worker kept busy by back-to-back runs
    // gets time to prepare its isolates while the others take the runs.
    const load = (w: Worker) => w.runs.size + (w.busy ? 0.5 : 0);
    const least = Math.min(...open.map(load));
    const equals = open.filter((w) => load(w) === least);
    return equals[this.turn++ % equals.length] as Worker;
  }

  /**
   * Reads the resident memory of every worker every MEMORY_WATCH_MS, while there is one: idle ones
   * too, as a run that failed at its time limit can leave its worker growing. isolated-vm's memory
   * limit alone does not bound a worker on Node 24: a step filling a huge array grows the process
   * past 1 GB for many seconds before V8 aborts it.
   */
  private watch(): void {
    if (this.maxRssMb === undefined || this.watchdog !== undefined || this.closed) return;
    this.watchdog = setInterval(() => this.checkMemory(this.maxRssMb as number), MEMORY_WATCH_MS);
    this.watchdog.unref();
  }

  /**
   * Stops each watched worker over the bound. Which of its runs grew it cannot be told, so none is
   * held at fault: each is sent once more to a fresh worker, and the one that grows that worker too
   * fails there.
   */
  private checkMemory(bound: number): void {
    const watched = this.workers.filter((w) => !w.stopped);
    if (watched.length === 0 || this.closed) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
      return;
    }
    for (const worker of watched) {
      const rss = worker.child.pid === undefined ? undefined : residentMemoryMb(worker.child.pid);
      if (rss === undefined || rss <= bound) continue;
      this.stop(worker, 'WORKFLOW_FAILED', `its resident memory of ${rss} MB was over the bound of ${bound} MB`);
      (worker.stopped as NonNullable<Worker['stopped']>).memory = true;
      this.options.onStopped?.('memory');
    }
  }

  private spawn(reserved: boolean): Worker {
    // An empty environment: no AWS_* or CREDFLOW_* variables, no NODE_OPTIONS.
    const child = fork(workerEntryPath(), [], {
      // isolated-vm still asks for --no-node-snapshot on Node 24. WebAssembly (its memory is allocated
      // outside an isolate's limit) is removed inside each context by the bootstrap: Node 24's V8 has
      // no --expose-wasm flag, and a worker given --no-expose-wasm exits at once with code 9.
      execArgv: ['--no-node-snapshot'],
      env: {},
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const worker: Worker = { child, runs: new Map(), stderr: '', busy: true, reserved };
    this.workers.push(worker);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      worker.stderr = (worker.stderr + chunk).slice(-4000);
    });
    child.on('message', (raw) => this.receive(worker, raw));
    child.on('error', (error) =>
      this.options.logger.warn({ event: 'sandbox.worker.error', error: error.message }, 'sandbox worker error'),
    );
    child.on('exit', (code, signal) => this.exited(worker, code, signal));
    // Workers never keep the agent (or a CLI command) alive; a pending run's timer does.
    child.unref();
    child.channel?.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
    this.post(worker, { type: 'init', prewarm: this.options.prewarm, memoryMb: this.options.memoryMb });
    this.watch();
    return worker;
  }

  /** False when the message cannot be serialised; the worker is stopped when the channel fails. */
  private post(worker: Worker, message: AgentMessage): boolean {
    if (!worker.child.connected) return false;
    try {
      worker.child.send(message, (error) => {
        if (error) this.stop(worker, 'WORKFLOW_FAILED', 'the agent could not write to it');
      });
      return true;
    } catch {
      return false;
    }
  }

  private receive(worker: Worker, raw: unknown): void {
    const parsed = workerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      // The run the message is about is the one at fault; the worker's other runs are sent again.
      const about = (raw as { id?: unknown } | null)?.id;
      this.stop(
        worker,
        'WORKFLOW_FAILED',
        'it sent a message the agent does not accept',
        typeof about === 'number' && worker.runs.has(about) ? about : undefined,
      );
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
      if (!run) {
        this.post(worker, {
          type: 'answer',
          call: message.call,
          error: { name: 'Error', message: 'the run is over; no more calls are made' },
        });
        return;
      }
      run.started = true;
      run.bridge(message.method, message.args).then(
        (value) => {
          if (!this.post(worker, { type: 'answer', call: message.call, value: value ?? null })) {
            this.post(worker, {
              type: 'answer',
              call: message.call,
              error: { name: 'Error', message: `${message.method}: the answer cannot be sent to the sandbox` },
            });
          }
        },
        (error: unknown) => {
          const e = error instanceof BridgeError ? error : new BridgeError('Error', `${message.method} failed`);
          this.post(worker, {
            type: 'answer',
            call: message.call,
            error: {
              name: truncate(e.name, 200),
              message: truncate(e.message, 2000),
              ...(e.code === undefined ? {} : { code: truncate(e.code, 200) }),
            },
          });
        },
      );
      return;
    }
    if (!run) return;
    worker.runs.delete(message.id);
    clearTimeout(run.timer);
    // It now disposes the run's isolate and prepares the next; 'ready' says when that is done.
    worker.busy = true;
    if (worker.reserved && worker.runs.size === 0) this.release(worker);
    // A slot is free: the oldest queued run takes it (settled below, after this turn's bookkeeping).
    this.drain();
    const steps = capRunLogs(message.steps, run.job.limits);
    if (message.type === 'failed') {
      run.reject(new StepFailure(message.code, message.message, steps, message.details));
      return;
    }
    // The worker measured the response already; it is measured again here, where it is trusted.
    const bytes = Buffer.byteLength(JSON.stringify(message.response ?? null));
    if (bytes > run.job.limits.maxResponseBytes) {
      const last = steps[steps.length - 1]?.name ?? '';
      run.reject(
        new StepFailure(
          'WORKFLOW_FAILED',
          `workflow "${run.job.workflow}" failed in step "${last}": RangeError: the returned value is ${bytes} bytes of JSON, over the limit of ${run.job.limits.maxResponseBytes}`,
          steps,
          {
            workflow: run.job.workflow,
            step: last,
            responseTooLarge: true,
          },
        ),
      );
      return;
    }
    run.resolve({ steps, response: message.response ?? null });
  }

  /**
   * A reserved worker whose runs are over is retired, not added to the pool: a run that made V8 give
   * up can still abort the process after it answered (a timeout), and the pool is refilled anyway.
   */
  private release(worker: Worker): void {
    worker.stopped = { code: 'WORKFLOW_FAILED', why: 'the runs it was started for are over', retired: true };
    worker.child.kill('SIGKILL');
  }

  /**
   * Sends a run again after its worker died, to a fresh worker of its own: not to one of the others,
   * which may be dying too (killed with it, their exit not yet seen while their channel still looks
   * open), and not beside the run that may have caused the death. Reserved workers number at most
   * the pool's size; past that, the least loaded of them takes the run.
   */
  private resend(run: PendingRun): void {
    const request: RunRequest = {
      job: run.job,
      attempt: run.attempt + 1,
      deadline: run.deadline,
      resolve: run.resolve,
      reject: run.reject,
      bridge: run.bridge,
    };
    const reserved = this.workers.filter((w) => w.reserved && !w.stopped && w.child.connected);
    const worker =
      reserved.length < this.options.size
        ? this.spawn(true)
        : reserved.reduce((a, b) => (b.runs.size < a.runs.size ? b : a));
    this.dispatch(request, worker);
  }

  private stop(worker: Worker, code: 'WORKFLOW_FAILED' | 'WORKFLOW_TIMEOUT', why: string, run?: number): void {
    worker.stopped ??= { code, why, ...(run === undefined ? {} : { run }) };
    worker.child.kill('SIGKILL');
  }

  private exited(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    const index = this.workers.indexOf(worker);
    if (index !== -1) this.workers.splice(index, 1);
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const resend: PendingRun[] = [];
    for (const [id, run] of worker.runs) {
      worker.runs.delete(id);
      clearTimeout(run.timer);
      // Unless it is the run the agent stopped the worker for, a run did not (as far as the agent can
      // tell) cause the worker's death: it is sent once more, while its time lasts.
      const atFault = worker.stopped?.run === id;
      if (!atFault && run.attempt < MAX_ATTEMPTS && !this.closed && run.deadline > Date.now()) {
        resend.push(run);
        continue;
      }
      const failure = worker.stopped
        ? new CredflowError(
            worker.stopped.code,
            `workflow "${run.job.workflow}" was abandoned: the agent stopped its sandbox worker because ${worker.stopped.why}`,
            {
              details: {
                workflow: run.job.workflow,
                sandboxWorkerStopped: true,
                ...(worker.stopped.memory ? { reason: 'memory' } : {}),
              },
            },
          )
        : new CredflowError(
            'WORKFLOW_FAILED',
            `workflow "${run.job.workflow}" was abandoned: its sandbox worker stopped unexpectedly (${how}); the next run gets a new worker`,
            {
              details: { workflow: run.job.workflow, sandboxWorkerCrashed: true },
            },
          );
      run.reject(failure);
    }
    for (const run of resend) this.resend(run);
    if (this.closed) return;
    // Its slots are gone; a new worker takes queued runs (the pool is below its size now).
    this.drain();
    if (worker.stopped?.retired) {
      this.options.logger.debug(
        { event: 'sandbox.worker.exit', pid: worker.child.pid, how, reason: worker.stopped.why },
        'sandbox worker retired',
      );
      return;
    }
    this.options.logger.warn(
      {
        event: 'sandbox.worker.exit',
        pid: worker.child.pid,
        how,
        reason: worker.stopped?.why,
        resentRuns: resend.length || undefined,
        stderr: worker.stderr.slice(-1000) || undefined,
      },
      'sandbox worker exited',
    );
    // A replacement is started off the request path (prepared isolates included) when the pool was warmed.
    if (this.warmed) setTimeout(() => this.warm(), 50).unref();
  }
}
