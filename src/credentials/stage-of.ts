import { CredflowError, type Stage } from '../errors.js';

export type ResolveStage = Stage;

/** Which stage failed, for `integrations test` and the logs (the error table's stage of its code). */
export function stageOf(error: unknown): ResolveStage | undefined {
  return error instanceof CredflowError ? error.stage : undefined;
}
