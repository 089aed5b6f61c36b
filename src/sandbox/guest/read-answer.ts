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
 * The size is checked here, the first code outside the isolate to see the answer, so that a step's
 * oversized value is refused with its step's error before it is parsed or sent anywhere. The agent
 * measures the response again when it accepts the worker's result (host/accept-result.ts): that is
 * the bound it relies on, since a worker is not trusted.
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
