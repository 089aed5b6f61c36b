import { previewFailure, previewProfile, toPreview, type Preview } from '../workflows/index.js';
import type { Agent } from './agent.js';
import { audited } from './audited.js';
import type { UseCaseContext } from './use-case-context.js';

/**
 * Runs a workflow and returns what it returned, masked unless `reveal`; a failed run's error
 * carries the steps that ran (masked the same way).
 */
export function previewWorkflow(
  ctx: UseCaseContext,
  name: string,
  options: Parameters<Agent['previewWorkflow']>[1] = {},
): Promise<Preview> {
  const profile = options.profile ?? ctx.settings.defaultProfile;
  const reveal = options.reveal === true;
  return audited(
    ctx,
    { subject: () => ({ action: reveal ? 'reveal' : 'preview', actor: options.actor, workflow: name, profile }) },
    async () => {
      const found = ctx.served.workflow(name);
      const config = ctx.served.config;
      previewProfile(name, profile, ctx.settings, config.integrations.values());
      const run = await ctx.runner.run(found, { params: options.params ?? {}, context: { profile } });
      if (!run.ok) throw previewFailure(run, reveal, ctx.settings.previewMaxBytes);
      return toPreview(run, reveal, ctx.settings.previewMaxBytes);
    },
  );
}
