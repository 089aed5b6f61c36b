/**
 * A failed Vault call: `name` is what step code sees (BridgeError), from Vault's HTTP status;
 * `message` is Vault's own `errors` text (never the token, which is sent in a header only).
 *
 * | status | name |
 * | 400 | VaultInvalidRequest |
 * | 403 | VaultPermissionDenied |
 * | 404 | VaultNotFound |
 * | 429 | VaultRateLimited |
 * | 503 | VaultSealed (sealed or standby) |
 * | other | VaultError |
 * | no answer | VaultUnreachable |
 */
export class VaultError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const names: Readonly<Record<number, string>> = {
  400: 'VaultInvalidRequest',
  403: 'VaultPermissionDenied',
  404: 'VaultNotFound',
  429: 'VaultRateLimited',
  503: 'VaultSealed',
};

/** The error for an answer with `status` and Vault's `{"errors":[...]}` body (or anything else). */
export function vaultErrorOf(status: number, body: unknown, what: string): VaultError {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  const text = Array.isArray(errors) ? errors.filter((e) => typeof e === 'string').join('; ') : '';
  const reason = text === '' ? (status === 404 ? 'not found' : `HTTP ${status}`) : text;
  return new VaultError(names[status] ?? 'VaultError', `${what}: ${reason.slice(0, 1000)}`, status);
}
