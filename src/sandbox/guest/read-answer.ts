import { z } from 'zod';
import { maxErrorNameLength, maxMessageLength } from './bootstrap-source.js';

/**
 * An error answer holds at most maxMessageLength characters of message and maxErrorNameLength of
 * name, each up to 6 bytes once escaped as JSON, and a short envelope.
 */
const maxErrorAnswerBytes = 6 * (maxMessageLength + maxErrorNameLength) + 200;

const answerSchema = z.union([
  z.strictObject({ ok: z.literal(true), value: z.unknown() }),
  z.strictObject({
    ok: z.literal(false),
    compile: z.literal(true).optional(),
    error: z.strictObject({
      name: z.string().max(maxErrorNameLength),
      message: z.string().max(maxMessageLength),
      /** The whole message's length, when the bootstrap cut it. */
      messageLength: z.number().int().nonnegative().optional(),
    }),
  }),
]);

/** A step's answer, checked; `tooLarge` marks a value refused for its size. */
export type Answer = z.infer<typeof answerSchema> & { tooLarge?: true };

/**
 * Reads the isolate's answer, which is untrusted: step code can tamper with the built-ins the
 * bootstrap uses. It must be a string of JSON in the expected shape: a value within maxResponseBytes
 * (UTF-8), or an error (cut inside the isolate) within maxErrorAnswerBytes.
 *
 * This is the one place the response size is checked. It is the first code outside the isolate to see
 * the answer, so nothing step code does can get past it (a check inside the isolate could be), it
 * measures the exact bytes the isolate produced before parsing them, and every run passes it, in a
 * worker or not. The agent takes the worker's result as it is: a worker that sent more would be one
 * taken over by code that escaped isolated-vm, which re-measuring one field would not contain.
 */
export function readAnswer(raw: unknown, maxResponseBytes: number): Answer {
  const invalid = (why: string): Answer => ({
    ok: false,
    error: { name: 'Error', message: `the step did not produce a valid result (${why})` },
  });
  if (typeof raw !== 'string') return invalid(`got a ${typeof raw} instead of JSON text`);
  // The envelope adds a few bytes around the value; the value alone is what the limit is about.
  const bytes = Buffer.byteLength(raw) - '{"ok":true,"value":}'.length;
  const tooLarge: Answer = {
    ok: false,
    tooLarge: true,
    error: {
      name: 'RangeError',
      message: `the returned value is ${bytes} bytes of JSON, over the limit of ${maxResponseBytes}`,
    },
  };
  if (bytes > Math.max(maxResponseBytes, maxErrorAnswerBytes)) {
    return raw.startsWith('{"ok":false') ? invalid(`an error answer of ${bytes} bytes`) : tooLarge;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return invalid('not JSON');
  }
  const checked = answerSchema.safeParse(parsed);
  if (!checked.success) return invalid('unexpected shape');
  return checked.data.ok && bytes > maxResponseBytes ? tooLarge : checked.data;
}
