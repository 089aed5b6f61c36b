import { derivedForms } from '../../src/masking/derived-forms.js';
import { isSecretKey } from '../../src/masking/index.js';

/** Shorter values are masked only as whole values by the agent, so they are not searched as substrings. */
const MIN_LENGTH = 6;

/**
 * The secret values a store held: a SecretString that is not JSON is a secret as a whole; in a JSON
 * one, the strings under secret-named keys (password, token, ...) are.
 */
export function secretsIn(storedValues: readonly string[]): string[] {
  const out = new Set<string>();
  const walk = (value: unknown, secretKey: boolean): void => {
    if (typeof value === 'string') {
      if (secretKey && value.length >= MIN_LENGTH) out.add(value);
    } else if (Array.isArray(value)) {
      for (const item of value) walk(item, secretKey);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) walk(item, secretKey || isSecretKey(key));
    }
  };
  for (const stored of storedValues) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(stored);
    } catch {
      if (stored.length >= MIN_LENGTH) out.add(stored);
      continue;
    }
    if (typeof parsed === 'string') walk(parsed, true);
    else walk(parsed, false);
  }
  return [...out];
}

export interface Capture {
  /** Where the text came from, e.g. "log line 12" or "POST /api/v1/... response". */
  where: string;
  text: string;
}

/**
 * Every place a secret or one of its derived forms (URL-encoded, base64, base64url, JSON-escaped)
 * appears. Findings name the place and the secret's index and form, never the secret itself.
 */
export function findLeaks(captures: readonly Capture[], secrets: readonly string[]): string[] {
  const findings: string[] = [];
  secrets.forEach((secret, index) => {
    const forms = derivedForms(secret).filter((f) => f.length >= MIN_LENGTH);
    for (const capture of captures) {
      forms.forEach((form, formIndex) => {
        if (capture.text.includes(form))
          findings.push(`${capture.where}: secret #${index} (form ${formIndex}, ${secret.length} chars)`);
      });
    }
  });
  return findings;
}
