export { startLocalVault } from './start-local-vault.js';
export type { LocalVault, LocalVaultOptions, VaultCall } from './start-local-vault.js';
export type { AppRoleSpec } from './tokens.js';
export type { DatabaseEngineOptions, DatabaseRoleSpec } from './database-engine.js';
