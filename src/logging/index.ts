export { createLogger } from './create-logger.js';
export type { CreateLoggerOptions } from './create-logger.js';
export { deferredLines } from './deferred-lines.js';
export type { DeferredLines, LineSink } from './deferred-lines.js';
