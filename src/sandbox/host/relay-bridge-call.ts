import { truncate } from '../../errors.js';
import { BridgeError } from '../contract.js';
import type { AgentMessage, WorkerMessage } from '../protocol.js';
import type { PendingRun } from './run-request.js';

type BridgeMessage = Extract<WorkerMessage, { type: 'bridge' }>;
type AnswerMessage = Extract<AgentMessage, { type: 'answer' }>;

/**
 * Serves a step's bridge call that a worker relays: through the run's own bridge (held to the run's
 * budget and deadline here, in the agent), answering with the value or the refusal the step is to
 * see. A call for a run that is over is refused; a host error that is not a BridgeError reaches the
 * step without its message.
 */
export function relayBridgeCall(
  run: PendingRun | undefined,
  message: BridgeMessage,
  answer: (message: AnswerMessage) => boolean,
): void {
  const { call, method } = message;
  if (!run) {
    answer({ type: 'answer', call, error: { name: 'Error', message: 'the run is over; no more calls are made' } });
    return;
  }
  run.started = true;
  run.bridge(method, message.args).then(
    (value) => {
      if (!answer({ type: 'answer', call, value: value ?? null })) {
        answer({
          type: 'answer',
          call,
          error: { name: 'Error', message: `${method}: the answer cannot be sent to the sandbox` },
        });
      }
    },
    (error: unknown) => {
      const e = error instanceof BridgeError ? error : new BridgeError('Error', `${method} failed`);
      answer({
        type: 'answer',
        call,
        error: {
          name: truncate(e.name, 200),
          message: truncate(e.message, 2000),
          ...(e.code === undefined ? {} : { code: truncate(e.code, 200) }),
        },
      });
    },
  );
}
