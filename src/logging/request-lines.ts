import type { Logger } from 'pino';
import { rawTargetOf, type RawLineTarget } from './create-logger.js';

/** Where the per-request lines (resolution, audit) go. */
export interface LineSink {
  /**
   * One info line: `fields`, then `durationMs` when given, then the message. A message is always
   * written with the same field names in the same order; the values repeat from request to request
   * (names, ids, outcomes), and what varies per line is the time and the duration, both numbers.
   */
  info(fields: Readonly<Record<string, unknown>>, message: string, durationMs?: number): void;
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
 * The lines written on every request, as cheap as a line can be: for a logger made by
 * createLogger, a line is built in the logger's own format without pino, from a memo of its masked
 * text. The memo is a tree keyed by the message and then each field value in turn, so finding a
 * line costs a Map lookup per field, with no serialisation; its texts are masked once, and masked
 * again after the masker learns another secret. Only the timestamp and the duration are new in
 * each line. Any other logger gets its lines through `logger.info`.
 */
export function requestLines(logger: Logger): LineSink {
  const raw = rawTargetOf(logger);
  if (!raw) return directLines(logger);
  const format = lineFormat(raw);
  return {
    info(fields, message, durationMs) {
      if (logger.isLevelEnabled('info')) raw.write(format(fields, message, durationMs));
    },
  };
}

interface MemoNode {
  next: Map<unknown, MemoNode>;
  /** The masked text before and after the duration, for the field values on the path here. */
  text?: [head: string, tail: string];
}

/** Lines remembered before the memo starts over. */
const memoLines = 1024;

/** Builds pino-format info lines from the memo; the ISO time is reused within a millisecond. */
function lineFormat(raw: RawLineTarget): (fields: Readonly<Record<string, unknown>>, message: string, durationMs: number | undefined) => string {
  let root = new Map<string, MemoNode>();
  let remembered = 0;
  let generation = raw.masker.generation;
  let lastMs = -1;
  let lastTime = '';
  return (fields, message, durationMs) => {
    if (raw.masker.generation !== generation || remembered >= memoLines) {
      root = new Map();
      remembered = 0;
      generation = raw.masker.generation;
    }
    let node = root.get(message);
    if (node === undefined) root.set(message, (node = { next: new Map() }));
    for (const key in fields) {
      const value = fields[key];
      let child: MemoNode | undefined = node.next.get(value);
      if (child === undefined) node.next.set(value, (child = { next: new Map() }));
      node = child;
    }
    let text = node.text;
    if (text === undefined) {
      // The members of the fields as pino writes them (undefined ones left out), masked.
      const json = JSON.stringify(fields);
      const members = json.length > 2 ? `,${json.slice(1, -1)}` : '';
      node.text = text = [raw.masker.mask(members), raw.masker.mask(`,"msg":${JSON.stringify(message)}}\n`)];
      remembered += 1;
    }
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = new Date(now).toISOString();
    }
    const duration = durationMs === undefined ? '' : `,"durationMs":${JSON.stringify(Math.round(durationMs))}`;
    return `{"level":30,"time":"${lastTime}"${raw.bindings}${text[0]}${duration}${text[1]}`;
  };
}
