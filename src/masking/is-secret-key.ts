/**
 * Words that make any key secret wherever they appear, case-insensitively: `PGPASSWORD`, `db_password`,
 * `clientSecret`, `x-auth-token`, `sessionToken`, `credentials`, `X-Amz-Signature`. Over-matching
 * (`secretary`, `tokenUrl`) only hides a value in a preview; under-matching would leak one.
 */
const SECRET_WORDS = /password|passwd|passphrase|secret|token|credential|signature/i;

/**
 * Short words that are secret only as the last word of a key, because as a first word they usually
 * qualify something public: `apiKey`, `api_key`, `private_key`, `accessKey`, `key`, `basicAuth`,
 * `Authorization`, `db_pwd` are secret; `keyId`, `keyName`, `authMethod`, `authSource` are not.
 * Whole words only, so `keyspace`, `monkey`, `author`, `passport` and `bypass` stay readable.
 */
const SECRET_LAST_WORDS = new Set(['key', 'auth', 'authorization', 'pwd', 'pass']);

/** All-lowercase compounds with no word boundary to split on (`apikey`, `privatekey`). */
const SECRET_COMPOUND = /^(?:api|private|access|secret|master|signing|encryption|client|ssh|ssl)key$/;

/** `primary_key`, `foreignKey`, ... name schema keys, not secrets. */
const SCHEMA_KEY_QUALIFIERS = new Set(['primary', 'foreign', 'partition', 'sort', 'unique']);

/**
 * The identifiers AWS Secrets Manager's API names with the word "secret" (`SecretId` in
 * `batchGetSecretValue`'s `Errors`, ...): names, shown like `Name`. Exact and case-sensitive: Vault
 * AppRole's `secret_id` is a credential and stays secret.
 */
const AWS_SECRET_IDENTIFIERS = new Set(['SecretId', 'SecretIdList', 'SecretName', 'SecretArn', 'SecretARN']);

/**
 * Whether a key names a secret, so a preview shows its value as MASK. Connection strings and URLs
 * (`connectionString`, `uri`, `url`) are not secret keys: only the password inside them is masked, by
 * the value-based pass. host, port, user(name), database/dbname and engine stay readable.
 */
export function isSecretKey(key: string): boolean {
  if (AWS_SECRET_IDENTIFIERS.has(key)) return false;
  if (SECRET_WORDS.test(key)) return true;
  const words = wordsOf(key);
  const last = words.at(-1);
  if (last === undefined) return false;
  if (SECRET_COMPOUND.test(last)) return true;
  if (!SECRET_LAST_WORDS.has(last)) return false;
  const qualifier = words.at(-2);
  return last !== 'key' || qualifier === undefined || !SCHEMA_KEY_QUALIFIERS.has(qualifier);
}

/** `apiKey` / `API_KEY` / `x-api-key` / `APIKey` → ["api", "key"]. */
function wordsOf(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== '');
}
