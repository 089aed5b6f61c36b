/**
 * pino's line format, re-created for the per-request lines (see requestLines), which are built
 * from a memo of their masked text rather than serialised by pino on every request. pino is pinned
 * to an exact version in package.json; test/unit/pino-line-format.contract.test.ts checks that a
 * line built here equals, as JSON and in key order, what pino itself writes for the same fields.
 * What is relied on: an info line is `{"level":30,"time":"<ISO>"`, then the base bindings, then the
 * fields as JSON.stringify writes them (undefined ones left out), then `"msg"`, then `}` and a newline
 * (with pino.stdTimeFunctions.isoTime and no messageKey, mixin or level formatter).
 */
import type { Logger } from 'pino';
import type { SecretMasker } from '../masking/index.js';
import { maskFields } from './mask-fields.js';

/** pino's number for the info level. */
export const infoLevel = 30;

/**
 * Where a logger made by createLogger writes, and its masker: the per-request lines are built in
 * the logger's format without going through pino, from a masked memo.
 */
export interface RawLineTarget {
  write(text: string): void;
  masker: SecretMasker;
  /** The base fields as JSON members, each preceded by a comma (`,"service":"credflow"`). */
  bindings: string;
}

const rawTargetKey = Symbol('credflow.rawLineTarget');

/** Gives a logger made by createLogger its raw target (kept on the logger itself). */
export function attachRawTarget(logger: Logger, target: RawLineTarget): void {
  Object.defineProperty(logger, rawTargetKey, { value: target });
}

/** The raw target of a logger made by createLogger (undefined for any other logger). */
export function rawTargetOf(logger: Logger): RawLineTarget | undefined {
  // Own property only: a child logger (pino builds it on its parent's prototype) has bindings of its
  // own that the raw format would leave out.
  if (!Object.hasOwn(logger, rawTargetKey)) return undefined;
  return (logger as Logger & { [rawTargetKey]?: RawLineTarget })[rawTargetKey];
}

interface MemoNode {
  next: Map<unknown, MemoNode>;
  /** The masked text before and after the duration, for the field values on the path here. */
  text?: [head: string, tail: string];
}

/** Lines remembered before the memo starts over. */
const memoLines = 1024;

/** Builds pino-format info lines from the memo, stamped `at`; the ISO time is reused within a millisecond. */
export function lineFormat(
  raw: RawLineTarget,
): (fields: Readonly<Record<string, unknown>>, message: string, durationMs: number | undefined, at: number) => string {
  let root = new Map<string, MemoNode>();
  let remembered = 0;
  let generation = raw.masker.generation;
  let lastMs = -1;
  let lastTime = '';
  return (fields, message, durationMs, at) => {
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
      // Values are masked before serialising, so no mask ever spans a quote or a key.
      const json = JSON.stringify(maskFields(fields, raw.masker));
      const members = json.length > 2 ? `,${json.slice(1, -1)}` : '';
      // The message is the agent's own literal text (see createLogger): kept.
      node.text = text = [members, `,"msg":${JSON.stringify(message)}}\n`];
      remembered += 1;
    }
    if (at !== lastMs) {
      lastMs = at;
      lastTime = new Date(at).toISOString();
    }
    const duration = durationMs === undefined ? '' : `,"durationMs":${JSON.stringify(Math.round(durationMs))}`;
    return `{"level":30,"time":"${lastTime}"${raw.bindings}${text[0]}${duration}${text[1]}`;
  };
}
