/**
 * The sandbox worker: a child process of the agent that runs workflow steps in isolated-vm and
 * nothing else. It holds no AWS credentials, no database connections and no secrets but those of
 * the runs it is executing; GetSecretValue is asked of the agent over IPC. Started by
 * SandboxWorkers (host/) with `--no-node-snapshot` and an empty environment. Its messages are
 * plain data (protocol.ts): a step's failure crosses as code, message and details.
 */
import { truncate } from '../../errors.js';
import { BridgeError, type StepResult } from '../contract.js';
import { agentMessageSchema, type AgentMessage, type WorkerMessage } from '../protocol.js';
import { IsolatePool, prepareIsolate } from './isolate-pool.js';
import { runSteps } from './run-steps.js';

type RunMessage = Extract<AgentMessage, { type: 'run' }>;

/** Where runs take their isolate; `replenish()` is called after each run, once its isolate is disposed. */
let isolates: Pick<IsolatePool, 'take' | 'replenish'> | undefined;
let nextCall = 0;
const calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function askAgent(id: number, method: string, args: unknown): Promise<unknown> {
  const call = nextCall++;
  return new Promise((resolve, reject) => {
    calls.set(call, { resolve, reject });
    send({ type: 'bridge', id, call, method, args });
  });
}

async function run(message: RunMessage): Promise<void> {
  let outcome;
  try {
    outcome = await runSteps({
      workflow: message.workflow,
      steps: message.steps,
      input: message.input,
      limits: message.limits,
      ...(message.timeLeftMs === undefined ? {} : { timeLeftMs: message.timeLeftMs }),
      bridge: (method, args) => askAgent(message.id, method, args),
      ...(isolates ? { isolates } : {}),
    });
  } catch {
    // isolated-vm itself failed (out of memory creating the isolate, ...): no host detail leaves.
    send({
      type: 'failed',
      id: message.id,
      code: 'WORKFLOW_FAILED',
      message: `workflow "${truncate(message.workflow, 200)}" could not run in the sandbox`,
      details: { workflow: message.workflow },
      steps: [],
    });
    return;
  }
  if (outcome.ok) {
    send({ type: 'done', id: message.id, steps: withoutOutputs(outcome.steps), response: outcome.response ?? null });
    return;
  }
  const { code, details } = outcome.failure;
  send({
    type: 'failed',
    id: message.id,
    code,
    message: truncate(outcome.failure.message, 4000),
    details,
    steps: withoutOutputs(outcome.steps),
  });
}

/**
 * The agent needs each step's name, duration and logs, and the run's response: each step's output
 * (up to maxResponseBytes each, for up to 50 steps) stays here.
 */
function withoutOutputs(steps: readonly StepResult[]): StepResult[] {
  return steps.map((s) => ({ name: s.name, durationMs: s.durationMs, logs: s.logs, output: null }));
}

process.on('message', (raw: unknown) => {
  const parsed = agentMessageSchema.safeParse(raw);
  // The agent is the only sender; a message it did not mean is a bug, and the agent starts a new worker.
  if (!parsed.success) process.exit(70);
  const message = parsed.data;
  switch (message.type) {
    case 'init': {
      // 'ready' tells the agent this worker is idle again (isolates prepared, the last one disposed),
      // so it sends the next run to a worker that is not busy preparing.
      const ready = () => send({ type: 'ready' });
      isolates =
        message.prewarm > 0
          ? new IsolatePool(message.prewarm, message.memoryMb, ready)
          : { take: (memoryMb) => prepareIsolate(memoryMb), replenish: ready };
      if (message.prewarm === 0) ready();
      return;
    }
    case 'run':
      // Until the agent hears this, the run has not begun here, and the agent may send it to another
      // worker should this one die.
      send({ type: 'started', id: message.id });
      void run(message);
      return;
    case 'answer': {
      const pending = calls.get(message.call);
      calls.delete(message.call);
      if (!pending) return;
      if (message.error) pending.reject(new BridgeError(message.error.name, message.error.message, message.error.code));
      else pending.resolve(message.value ?? null);
      return;
    }
  }
});

// The agent went away (or closed the channel): nothing is left to run for.
process.on('disconnect', () => process.exit(0));
