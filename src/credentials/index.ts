export { resolveConnection, stageOf } from './resolve-connection.js';
export type { ResolveDeps, ResolveOptions, ResolveStage } from './resolve-connection.js';
export { parseResolvedConnection } from './resolved-connection.js';
export type { ResolvedConnection } from './resolved-connection.js';
