import pino, { type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import type { SecretMasker } from '../masking/index.js';
import { BufferedDestination } from './buffered-destination.js';
import { maskFields } from './mask-fields.js';
import { attachRawTarget } from './pino-line-format.js';
import { terminalSafeJson } from './terminal-safe.js';

export interface CreateLoggerOptions {
  level: LevelWithSilent;
  masker: SecretMasker;
  /** Defaults to stdout, written in batches (see BufferedDestination). */
  destination?: DestinationStream;
}

/** The fields every line carries after `level` and `time`. */
const base = { service: 'credflow' };

/**
 * Structured JSON logs, one line per event. Every string value of a line (error messages and stacks
 * included) passes through the masker before serialisation: keys, structure and the agent's own
 * message text are never masked, so each line stays valid JSON and readable whatever secrets are
 * registered (see maskFields). Characters JSON leaves raw that a terminal may act on (C1 controls,
 * bidi controls) are written as \u escapes (see terminalSafeJson).
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const target = options.destination ?? new BufferedDestination(process.stdout);
  const { masker } = options;
  const out: DestinationStream & { flush(cb?: (error?: Error) => void): void } = {
    write(line: string) {
      target.write(terminalSafeJson(line));
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
      // maskFields already turned errors into pino's { type, message, stack } (and masked them);
      // pino's default err serializer would run again on that plain object and call its type Object.
      serializers: { err: (value: unknown) => value },
      formatters: { log: (fields) => maskFields(fields, masker) },
      hooks: {
        // `logger.info(fields, 'literal message')`: the message is the agent's own text, like an event
        // name, and is kept (a message "audit" stays one whatever is registered). A message given
        // alone, and format arguments, may carry anything: masked.
        logMethod(args, method) {
          const keep = typeof args[0] === 'object' && args[0] !== null ? 1 : -1;
          const masked = args.map((arg: unknown, i) =>
            typeof arg === 'string' && i !== keep ? masker.mask(arg) : arg,
          ) as Parameters<typeof method>;
          method.apply(this, masked);
        },
      },
    },
    out,
  );
  attachRawTarget(logger, {
    write: (text) => target.write(terminalSafeJson(text)),
    masker: options.masker,
    bindings: `,${JSON.stringify(base).slice(1, -1)}`,
  });
  return logger;
}
