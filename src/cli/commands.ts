import { cliActor } from './cli-actor.js';
import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { callAgent } from './agent-client.js';
import { withAgent, type GlobalOptions } from './context.js';
import { formatTable } from './format-table.js';
import { collectList, parseProfile } from './parse-param.js';
import { printJson, printLine, printNotice } from './print.js';
import { remoteOptions } from './remote-options.js';
import path from 'node:path';

/** The CLI works on the config files directly, as the local user: audited as `cli`. */

type Globals = (cmd: Command) => GlobalOptions;

export function registerValidate(program: Command, globals: Globals): void {
  program
    .command('validate')
    .description('check every file in workflows/ and integrations/; one line per problem or warning')
    .action(async (_opts, cmd: Command) => {
      const g = globals(cmd);
      const config = await loadConfig(path.resolve(g.dir));
      const ok = config.problems.length === 0;
      if (g.json) {
        printJson({
          ok,
          workflows: [...config.workflows.keys()],
          integrations: [...config.integrations.keys()],
          problems: config.problems,
          warnings: config.warnings,
        });
      } else {
        for (const problem of config.problems) printNotice(problem);
        // Warnings alone do not fail: the scan behind them reads text and may be wrong.
        for (const warning of config.warnings) printNotice(`warning: ${warning}`);
        if (ok)
          printLine(
            `ok: ${config.workflows.size} workflow(s), ${config.integrations.size} integration(s) in ${config.dir}`,
          );
      }
      if (!ok) process.exitCode = 1;
    });
}

export function registerIntegrations(program: Command, globals: Globals): void {
  const integrations = program.command('integrations').description('list, test, status and invalidate integrations');
  integrations
    .command('list')
    .description('list the integrations')
    .action(async (_opts, cmd: Command) => {
      const g = globals(cmd);
      await withAgent(g, async (agent) => {
        const list = agent.listIntegrations();
        if (g.json) printJson({ integrations: list });
        else
          printLine(
            formatTable(['name', 'kind', 'workflow', 'description'], list as unknown as Record<string, unknown>[]),
          );
      });
    });
  integrations
    .command('test')
    .description('resolve an integration and run SELECT 1; on failure, says which stage failed')
    .argument('<name>', 'integration name')
    .option('--profile <name>', 'profile to resolve (default: CREDFLOW_DEFAULT_PROFILE or "default")', parseProfile)
    .action(async (name: string, opts: { profile?: string }, cmd: Command) => {
      const g = globals(cmd);
      await withAgent(
        g,
        async (agent) => {
          const result = await agent.testIntegration(name, {
            ...(opts.profile ? { profile: opts.profile } : {}),
            actor: cliActor('integrations test'),
          });
          if (g.json) printJson(result);
          else printLine(`ok: ${name} [${result.profile}] (${result.stages.join(' → ')}) in ${result.durationMs} ms`);
        },
        { secrets: true },
      );
    });
  remoteOptions(
    integrations
      .command('invalidate')
      .description("make a running agent drop the integration's cached credentials and drain its pools")
      .argument('<name>', 'integration name'),
  ).action(async (name: string, opts: { url?: string; token?: string; tokenFile?: string }, cmd: Command) => {
    const g = globals(cmd);
    const result = (await callAgent(
      { ...opts, dir: g.dir },
      'POST',
      `/api/v1/integrations/${encodeURIComponent(name)}/invalidate`,
    )) as {
      droppedResponses: number;
      drainedPools: number;
    };
    if (g.json) printJson(result);
    else
      printLine(
        `ok: ${name}: dropped ${result.droppedResponses} cached response(s), draining ${result.drainedPools} pool(s)`,
      );
  });
  remoteOptions(
    integrations
      .command('status')
      .description("show a running agent's cache and pool state for an integration (never a secret)")
      .argument('<name>', 'integration name')
      .option('--profile <name>', "profile (default: the agent's default profile)", parseProfile),
  ).action(
    async (
      name: string,
      opts: { url?: string; token?: string; tokenFile?: string; profile?: string },
      cmd: Command,
    ) => {
      const g = globals(cmd);
      const query = opts.profile ? `?profile=${encodeURIComponent(opts.profile)}` : '';
      const status = (await callAgent(
        { ...opts, dir: g.dir },
        'GET',
        `/api/v1/integrations/${encodeURIComponent(name)}/status${query}`,
      )) as Record<string, unknown>;
      if (g.json) printJson(status);
      else
        printLine(
          formatTable(
            ['field', 'value'],
            Object.entries(status).map(([field, value]) => ({ field, value })),
          ),
        );
    },
  );
}

export function registerQuery(program: Command, globals: Globals): void {
  program
    .command('query')
    .description('run a parameterised SQL query through an integration')
    .argument('<integration>', 'integration name')
    .argument('<sql>', 'SQL text; use $1, $2, ... for parameters')
    .option('--param <value>', 'a query parameter, in order: $1, $2, ... (repeatable)', collectList, [])
    .option('--profile <name>', 'profile to resolve (default: CREDFLOW_DEFAULT_PROFILE or "default")', parseProfile)
    .action(async (integration: string, sql: string, opts: { param: string[]; profile?: string }, cmd: Command) => {
      const g = globals(cmd);
      await withAgent(
        g,
        async (agent) => {
          const result = await agent.query(integration, sql, opts.param, {
            ...(opts.profile ? { profile: opts.profile } : {}),
            actor: cliActor('query'),
          });
          if (g.json) {
            printJson(result);
            return;
          }
          if (result.fields.length > 0)
            printLine(
              formatTable(
                result.fields.map((f) => f.name),
                result.rows,
              ),
            );
          printLine(rowsLine(result.rows.length, result.rowCount, result.truncated));
        },
        { secrets: true },
      );
    });
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The line under a query's table: the row count, and when rows were dropped, how many were shown,
 * which limit dropped them and where to change it.
 */
export function rowsLine(
  shown: number,
  rowCount: number | null | undefined,
  truncated: { reason: string; limit: number } | undefined,
): string {
  if (!truncated) return `(${plural(rowCount ?? shown, 'row')})`;
  const total = rowCount !== null && rowCount !== undefined && rowCount > shown ? ` of ${rowCount}` : '';
  const limit =
    truncated.reason === 'maxRows' ? `maxRows is ${truncated.limit}` : `maxResultBytes is ${truncated.limit} bytes`;
  return `(${shown}${total} rows shown: truncated, the integration's ${limit})`;
}
