import { fork, type ChildProcess } from 'node:child_process';
import type { AgentMessage } from '../protocol.js';
import type { PendingRun, StopReason } from './run-request.js';
import { workerEntryPath } from './worker-entry.js';

/** One sandbox worker process and the runs it holds. */
export interface WorkerProcess {
  child: ChildProcess;
  runs: Map<number, PendingRun>;
  /** The end of its stderr, for the log line when it exits. */
  stderr: string;
  /** Preparing isolates or disposing the last one: it answers later than an idle worker would. */
  busy: boolean;
  /**
   * Started for runs sent again after their worker died: it takes no other run, and it is retired
   * once they are over (one of them may have caused the death, and may yet cause this one's).
   */
  reserved: boolean;
  stopped?: StopReason;
}

export interface SpawnOptions {
  reserved: boolean;
  /** Isolates it prepares ahead of time, and their memory limit. */
  prewarm: number;
  memoryMb: number;
  onMessage: (worker: WorkerProcess, raw: unknown) => void;
  onError: (error: Error) => void;
  onExit: (worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null) => void;
}

/** Starts a worker process with an empty environment and tells it how many isolates to prepare. */
export function spawnWorker(options: SpawnOptions): WorkerProcess {
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
  const worker: WorkerProcess = { child, runs: new Map(), stderr: '', busy: true, reserved: options.reserved };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    worker.stderr = (worker.stderr + chunk).slice(-4000);
  });
  child.on('message', (raw) => options.onMessage(worker, raw));
  child.on('error', options.onError);
  child.on('exit', (code, signal) => options.onExit(worker, code, signal));
  // Workers never keep the agent (or a CLI command) alive; a pending run's timer does.
  child.unref();
  child.channel?.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  postTo(worker, { type: 'init', prewarm: options.prewarm, memoryMb: options.memoryMb });
  return worker;
}

/** Sends a message; false when it cannot be serialised or the channel is closed. The worker is stopped when a write fails. */
export function postTo(worker: WorkerProcess, message: AgentMessage): boolean {
  if (!worker.child.connected) return false;
  try {
    worker.child.send(message, (error) => {
      if (error) stopWorker(worker, 'WORKFLOW_FAILED', 'the agent could not write to it');
    });
    return true;
  } catch {
    return false;
  }
}

/** Kills a worker, noting why (the first reason given holds); its exit settles its runs. */
export function stopWorker(worker: WorkerProcess, code: StopReason['code'], why: string, run?: number): void {
  worker.stopped ??= { code, why, ...(run === undefined ? {} : { run }) };
  worker.child.kill('SIGKILL');
}
