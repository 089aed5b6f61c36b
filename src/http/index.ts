export { createApp } from './create-app.js';
export type { CreateAppOptions } from './create-app.js';
