import { redactConfig } from './redact-config.js';
import type { UseCaseContext } from './use-case-context.js';

/** An integration's file as written, with its secrets masked. */
export function describeIntegration(ctx: UseCaseContext, name: string): unknown {
  const found = ctx.served.integration(name);
  return { file: found.file, config: redactConfig(found.written, ctx.masker) };
}
