import pino, { type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import type { SecretMasker } from '../masking/index.js';

export interface CreateLoggerOptions {
  level: LevelWithSilent;
  masker: SecretMasker;
  /** Defaults to stdout, written asynchronously. */
  destination?: DestinationStream;
}

/**
 * Structured JSON logs, one line per event. Every line passes through the masker as text after
 * serialisation, so no field, message, error or stack can carry a known secret out.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  // Asynchronous: lines written while a write is in flight are coalesced into the next one, so a
  // busy agent makes few write calls; pino flushes what is left when the process exits.
  const target = options.destination ?? pino.destination({ fd: 1, sync: false });
  const masked: DestinationStream = {
    write(line: string) {
      target.write(options.masker.mask(line));
    },
  };
  return pino(
    {
      level: options.level,
      base: { service: 'credflow' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: pino.stdSerializers.err },
    },
    masked,
  );
}
