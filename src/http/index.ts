export { AuthFailureLimiter } from './auth-failure-limiter.js';
export { createApp } from './create-app.js';
export { createHttpMetrics } from './http-metrics.js';
export type { HttpMetrics } from './http-metrics.js';
export { createHttpServer } from './create-http-server.js';
export type { CreateAppOptions } from './create-app.js';
