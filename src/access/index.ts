export { fullAccessToken, idOfPlainToken, sha256, toAccessToken } from './access-token.js';
export type { AccessToken, TokenSpec } from './access-token.js';
export { nameFilter, scopes } from './scopes.js';
export type { NameFilter, Scope } from './scopes.js';
export { readTokensFile, tokensFileSchema } from './tokens-file.js';
export type { Actor } from './actor.js';
export { audit, localActor } from './audit.js';
export type { AuditEvent } from './audit.js';
