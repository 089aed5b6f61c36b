import { CredflowError } from '../../src/errors.js';

/** The CredflowError a synchronous call throws; anything else (or nothing) fails the test. */
export function errorOf(run: () => unknown): CredflowError {
  try {
    run();
  } catch (error) {
    if (error instanceof CredflowError) return error;
    throw error;
  }
  throw new Error('expected a CredflowError');
}
