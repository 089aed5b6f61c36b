import { redactConfig } from './redact-config.js';
import type { UseCaseContext } from './use-case-context.js';

/** A workflow's file as written and the code of its steps, with secrets masked. */
export function describeWorkflow(ctx: UseCaseContext, name: string): unknown {
  const w = ctx.served.workflow(name);
  return {
    file: w.file,
    config: redactConfig(w.written, ctx.masker),
    steps: w.steps.map((s) => ({ name: s.name, source: s.source, code: ctx.masker.mask(s.code) })),
  };
}
