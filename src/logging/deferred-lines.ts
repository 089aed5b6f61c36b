import type { Logger } from 'pino';

/** Where the per-request lines (resolution, audit) go: a pino logger, or a DeferredLines in front of one. */
export interface LineSink {
  info(fields: object, message: string): void;
}

export interface DeferredLines extends LineSink {
  /** Writes what is queued now (the agent calls it when it closes). */
  flush(): void;
}

/**
 * Queues the lines written on every request and hands them to the logger in the next check phase of
 * the event loop, in order, so their serialisation, masking and write happen while the request's
 * database round trip is in flight rather than before its answer. A line waits at most one turn of
 * the event loop; `flush()` writes the rest at shutdown.
 */
export function deferredLines(logger: Logger): DeferredLines {
  let queue: [object, string][] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const lines = queue;
    queue = [];
    for (const [fields, message] of lines) logger.info(fields, message);
  };
  return {
    info(fields, message) {
      if (!logger.isLevelEnabled('info')) return;
      queue.push([fields, message]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
