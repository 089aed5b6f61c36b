export { BufferedDestination } from './buffered-destination.js';
export type { BufferedDestinationOptions } from './buffered-destination.js';
export { cutOptional, cutText, maxLoggedChars } from './cut-text.js';
export { createLogger } from './create-logger.js';
export type { CreateLoggerOptions } from './create-logger.js';
export { directLines, requestLines } from './request-lines.js';
export type { LineSink, RequestLines } from './request-lines.js';
export { terminalControls, terminalSafeJson } from './terminal-safe.js';
