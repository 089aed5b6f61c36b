import type { Actor } from '../access/index.js';
import type { Agent, ReloadResult, ReloadTrigger } from './agent.js';
import { configChanges, noChanges } from './config-changes.js';
import type { UseCaseContext } from './use-case-context.js';

/** The reload use case: reloads run one at a time, each on the configuration the one before left. */
export function createReload(ctx: UseCaseContext): Agent['reload'] {
  let reloads: Promise<unknown> = Promise.resolve();
  return (trigger, options = {}) => {
    const run = reloads.then(() => reload(ctx, trigger, options.actor));
    reloads = run.catch(() => undefined);
    return run;
  };
}

async function reload(ctx: UseCaseContext, trigger: ReloadTrigger, actor: Actor | undefined): Promise<ReloadResult> {
  const { served, metrics, logger } = ctx;
  const started = performance.now();
  const next = await ctx.loadConfig();
  const changes = configChanges(served.config, next);
  const applied = next.problems.length === 0;
  // A save that changed nothing (an editor's backup file, a touch) keeps every resolver as it is.
  if (applied && !noChanges(changes)) {
    const retired = served.apply(next, changes);
    ctx.masker.declareNames([...next.integrations.keys(), ...next.workflows.keys()]);
    for (const name of retired) ctx.pools.drop(name);
  }
  const empty = { added: [], changed: [], removed: [] };
  const result: ReloadResult = {
    applied,
    trigger,
    at: new Date().toISOString(),
    problems: [...next.problems],
    ...(applied ? changes : { integrations: empty, workflows: empty }),
  };
  served.lastReload = result;
  metrics.configReloads.inc({ outcome: applied ? 'ok' : 'error' });
  metrics.configLastReloadSuccess.set(applied ? 1 : 0);
  const line = {
    event: 'config.reload',
    trigger,
    tokenId: actor?.tokenId,
    outcome: applied ? 'ok' : 'error',
    integrations: result.integrations,
    workflows: result.workflows,
    problems: result.problems,
    durationMs: Math.round(performance.now() - started),
  };
  if (applied) logger.info(line, 'configuration reloaded');
  else logger.warn(line, 'configuration reload rejected; the last good configuration stays');
  return result;
}
