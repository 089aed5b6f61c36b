import type { Logger } from 'pino';
import { infoLevel, lineFormat, rawTargetOf } from './pino-line-format.js';

/** Where the per-request lines (resolution, audit) go. */
export interface LineSink {
  /**
   * One info line: `fields`, then `durationMs` when given, then the message. A message is always
   * written with the same field names in the same order; the values repeat from request to request
   * (names, ids, outcomes), and what varies per line is the time and the duration, both numbers.
   */
  info(fields: Readonly<Record<string, unknown>>, message: string, durationMs?: number): void;
}

/** The agent's per-request lines; `flush()` writes what is queued (the agent calls it when it closes). */
export interface RequestLines extends LineSink {
  flush(): void;
}

/** A LineSink that writes through `logger.info`. */
export function directLines(logger: Logger): LineSink {
  return {
    info(fields, message, durationMs) {
      logger.info(durationMs === undefined ? fields : { ...fields, durationMs: Math.round(durationMs) }, message);
    },
  };
}

/**
 * The lines written on every request, as cheap as a line can be. For a logger made by
 * createLogger, a call only queues the line with its time. The queue is built and written once 32
 * lines wait (in the next check phase of the event loop, while requests' database round trips are
 * in flight), 10 ms after its first line, or by `flush()`.
 *
 * A line is built in the logger's own format without pino, from a memo of its masked text: the
 * memo is a tree keyed by the message and then each field value in turn, so finding a line costs a
 * Map lookup per field, with no serialisation. Its values are masked once, before serialising, and
 * masked again after the masker learns or forgets a secret. Only the timestamp and the duration are new in each line:
 * numbers the agent makes itself, written unmasked. Any other logger gets its lines through
 * `logger.info` at once.
 */
export function requestLines(logger: Logger): RequestLines {
  const raw = rawTargetOf(logger);
  if (!raw) return { ...directLines(logger), flush: () => undefined };
  const format = lineFormat(raw);
  let queue: [
    fields: Readonly<Record<string, unknown>>,
    message: string,
    durationMs: number | undefined,
    at: number,
  ][] = [];
  let timer: NodeJS.Timeout | undefined;
  let soon = false;
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    soon = false;
    const lines = queue;
    if (lines.length === 0) return;
    queue = [];
    // A write per line, as pino does: destinations may take each write for one line.
    for (const [fields, message, durationMs, at] of lines) raw.write(format(fields, message, durationMs, at));
  };
  return {
    info(fields, message, durationMs) {
      // pino's numeric level (info is 30), read each time since it may be changed at run time.
      if (logger.levelVal > infoLevel) return;
      queue.push([fields, message, durationMs, Date.now()]);
      if (queue.length >= batchLines) {
        if (!soon) {
          soon = true;
          setImmediate(flush);
        }
      } else timer ??= setTimeout(flush, batchDelayMs);
    },
    flush,
  };
}

/** Queued lines are built and written once this many are waiting, in the next check phase... */
const batchLines = 32;
/** ...or this long after the first of them. */
const batchDelayMs = 10;
