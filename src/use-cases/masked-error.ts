import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';
import { presentsSteps } from '../workflows/index.js';

/**
 * An agent's error as it may leave the process (an HTTP answer, the CLI's output): message and
 * details masked, without the cause. A failed preview's `details.steps` stay as previewFailure
 * presented them (masked already, or revealed to a caller allowed to see them); anything else under
 * `details.steps` is masked like the rest.
 */
export function maskedError(error: CredflowError, masker: SecretMasker, note = ''): CredflowError {
  let details: Record<string, unknown> | undefined;
  if (error.details) {
    const { steps, ...rest } = error.details;
    details = masker.maskValue(rest);
    if (steps !== undefined) details.steps = presentsSteps(error) ? steps : masker.maskValue(steps);
  }
  return new CredflowError(error.code, masker.mask(error.message) + note, details ? { details } : {});
}
