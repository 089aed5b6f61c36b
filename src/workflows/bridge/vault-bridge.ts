import { z } from 'zod';
import type { Workflow } from '../../config/index.js';
import { CredflowError } from '../../errors.js';
import type { SecretMasker } from '../../masking/index.js';
import { BridgeError } from '../../sandbox/index.js';
import { VaultError, type VaultClient } from '../../secrets/index.js';
import { compileSecretAllowlist, type SecretAllowlist } from '../secret-allowlist.js';
import type { StoreBridge } from './bridge-deps.js';
import { learnSecret } from './learn-secret.js';
import { parseBridgeArgs } from './parse-bridge-args.js';

// Path segments as Vault names mounts and secrets; no empty, `.` or `..` segment.
const segment = /^(?!\.\.?$)[A-Za-z0-9_+=.@:-]+$/;
const vaultPath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => p.split('/').every((s) => segment.test(s)), {
    message: 'must be a Vault path: segments of letters, digits and _+=.@:- separated by single slashes',
  });

const kvGetSchema = z.strictObject({
  mount: vaultPath.optional(),
  path: vaultPath,
  version: z.number().int().min(0).optional(),
});
const readSchema = z.strictObject({ path: vaultPath });

const allowlists = new WeakMap<Workflow, SecretAllowlist>();
const allowlistOf = (workflow: Workflow): SecretAllowlist => {
  let found = allowlists.get(workflow);
  if (!found) allowlists.set(workflow, (found = compileSecretAllowlist(workflow.allowedVaultPaths)));
  return found;
};

/**
 * `vault.kv.get` and `vault.read`: validate, check the workflow's allowedVaultPaths (the API path
 * after /v1/: `<mount>/data/<path>` for KV v2, as a Vault policy names it), call, learn what must be
 * masked, and record the run's leases (the agent renews and revokes them; step code only sees ids).
 */
export const vaultBridge: StoreBridge = ({ stores, masker, workflow, leases }) => {
  const client = (operation: string): VaultClient => {
    if (stores.vault) return stores.vault;
    throw new BridgeError(
      'VaultNotConfigured',
      `${operation}: Vault is not configured: set VAULT_ADDR and CREDFLOW_VAULT_TOKEN (or CREDFLOW_VAULT_ROLE_ID and CREDFLOW_VAULT_SECRET_ID)`,
    );
  };
  const check = (path: string) => {
    if (!allowlistOf(workflow)(path))
      throw new BridgeError(
        'VaultPermissionDenied',
        `workflow "${workflow.name}" may not read the Vault path "${path}": it is not in the workflow's allowedVaultPaths`,
      );
  };
  return {
    'vault.kv.get': async (args) => {
      const request = parseBridgeArgs(kvGetSchema, args, 'vault.kv.get', 'VaultInvalidRequest');
      const mount = request.mount ?? 'secret';
      check(`${mount}/data/${request.path}`);
      const vault = client('vault.kv.get');
      const answer = await called(masker, () => vault.kvGet(mount, request.path, request.version));
      learn(masker, answer.data);
      return answer;
    },
    'vault.read': async (args) => {
      const request = parseBridgeArgs(readSchema, args, 'vault.read', 'VaultInvalidRequest');
      check(request.path);
      const vault = client('vault.read');
      const answer = await called(masker, () => vault.read(request.path));
      if (answer.lease_id !== '') {
        // Recorded before anything else can fail: a lease the run obtained is always renewed or revoked.
        leases?.push({ id: answer.lease_id, duration: answer.lease_duration, renewable: answer.renewable });
      }
      learn(masker, answer.data);
      return answer;
    },
  };
};

/** The call, its failures as BridgeErrors named as VaultError names them. */
async function called<T>(masker: SecretMasker, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof VaultError) throw new BridgeError(error.name, masker.mask(error.message));
    throw new BridgeError('VaultError', 'the Vault call failed');
  }
}

/** The document whole, and its values under secret-named keys (`password`, ...), whole and in fragments. */
function learn(masker: SecretMasker, data: unknown): void {
  if (data === null || typeof data !== 'object') return;
  try {
    learnSecret(masker, JSON.stringify(data));
  } catch (error) {
    // The masker is full: the step must not see a value the agent could not mask.
    if (error instanceof CredflowError) throw new BridgeError('LimitExceededException', error.message);
    throw new BridgeError('VaultError', 'the Vault answer could not be read');
  }
}
