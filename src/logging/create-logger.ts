import pino, { type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import type { SecretMasker } from '../masking/index.js';
import { BufferedDestination } from './buffered-destination.js';

export interface CreateLoggerOptions {
  level: LevelWithSilent;
  masker: SecretMasker;
  /** Defaults to stdout, written in batches (see BufferedDestination). */
  destination?: DestinationStream;
}

/** The fields every line carries after `level` and `time`. */
const base = { service: 'credflow' };

/**
 * Where a logger made by createLogger writes, and its masker: the per-request lines (see
 * requestLines) are built in the logger's format without going through pino, from a masked memo.
 */
export interface RawLineTarget {
  write(text: string): void;
  masker: SecretMasker;
  /** The base fields as JSON members, each preceded by a comma (`,"service":"credflow"`). */
  bindings: string;
}

const rawTargets = new WeakMap<Logger, RawLineTarget>();

/** The raw target of a logger made by createLogger (undefined for any other logger). */
export function rawTargetOf(logger: Logger): RawLineTarget | undefined {
  return rawTargets.get(logger);
}

/**
 * Structured JSON logs, one line per event. Every line passes through the masker as text after
 * serialisation, so no field, message, error or stack can carry a known secret out.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const target = options.destination ?? new BufferedDestination(process.stdout);
  const masked: DestinationStream & { flush(cb?: (error?: Error) => void): void } = {
    write(line: string) {
      target.write(options.masker.mask(line));
    },
    // logger.flush(): what a buffered destination holds goes out now.
    flush(cb) {
      const flushable = target as DestinationStream & { flush?(cb?: (error?: Error) => void): void };
      if (flushable.flush) flushable.flush(cb);
      else cb?.();
    },
  };
  const logger = pino(
    {
      level: options.level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: pino.stdSerializers.err },
    },
    masked,
  );
  rawTargets.set(logger, { write: (text) => target.write(text), masker: options.masker, bindings: `,${JSON.stringify(base).slice(1, -1)}` });
  return logger;
}
