/** A version's value: exactly one of the two is set. */
export interface SecretValue {
  SecretString?: string;
  SecretBinary?: Uint8Array;
}

/** A copy the caller cannot mutate afterwards. */
export function copyValue(value: SecretValue): SecretValue {
  if (value.SecretBinary !== undefined) return { SecretBinary: Uint8Array.from(value.SecretBinary) };
  return { SecretString: value.SecretString ?? '' };
}

/** Whether two values are the same string or the same bytes (for idempotent retries). */
export function sameValue(a: SecretValue, b: SecretValue): boolean {
  if (a.SecretBinary !== undefined || b.SecretBinary !== undefined) {
    return (
      a.SecretBinary !== undefined &&
      b.SecretBinary !== undefined &&
      Buffer.compare(Buffer.from(a.SecretBinary), Buffer.from(b.SecretBinary)) === 0
    );
  }
  return a.SecretString === b.SecretString;
}
