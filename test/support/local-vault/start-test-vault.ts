import { inject } from 'vitest';
import { startLocalVault, type LocalVault, type LocalVaultOptions } from '../../../src/local-vault/index.js';
import type { TestDatabase } from '../test-database.js';

export interface TestVault extends LocalVault {
  /** Every secret the endpoint held or handed out (tokens, secret_ids, KV documents, passwords), for leak searches. */
  storedValues(): string[];
}

/**
 * The local Vault endpoint for a test file: its database engine creates users in `db` (as the
 * shared server's superuser) with `grants` from each role.
 */
export async function startTestVault(
  db: TestDatabase,
  options: Omit<LocalVaultOptions, 'database' | 'onValueStored'> & {
    roles?: Record<string, { grants?: string[]; defaultTtlSeconds?: number }>;
  } = {},
): Promise<TestVault> {
  const stored = new Set<string>();
  const { roles = {}, ...rest } = options;
  const server = inject('postgres');
  const vault = await startLocalVault({
    ...rest,
    database: {
      admin: { ...server, database: db.dbname },
      roles: Object.fromEntries(
        Object.entries(roles).map(([name, role]) => [
          name,
          {
            grants: role.grants ?? [
              `GRANT CONNECT ON DATABASE "${db.dbname}" TO {{name}}`,
              'GRANT SELECT ON widgets TO {{name}}',
            ],
            ...(role.defaultTtlSeconds === undefined ? {} : { defaultTtlSeconds: role.defaultTtlSeconds }),
          },
        ]),
      ),
    },
    onValueStored: (value) => stored.add(value),
  });
  return Object.assign(vault, { storedValues: () => [...stored] });
}
