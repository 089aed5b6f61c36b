export { createVaultClient } from './vault-client.js';
export type { KvSecret, VaultClient, VaultClientOptions, VaultSecret } from './vault-client.js';
export type { VaultCredentials } from './vault-auth.js';
export { VaultError } from './vault-error.js';
export { LeaseKeeper } from './lease-keeper.js';
export type { LeaseKeeperOptions, VaultLease } from './lease-keeper.js';
