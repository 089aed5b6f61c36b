import type { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { failedPreviewSteps } from '../workflows/index.js';
import { callAgent } from './agent-client.js';
import { withAgent, type GlobalOptions } from './context.js';
import { formatTable } from './format-table.js';
import { safeCell, safeMessage } from './safe-text.js';
import { collectKeyValue, collectList, parseProfile } from './parse-param.js';
import { printJson, printLine, printNotice, printReadableJson } from './print.js';
import path from 'node:path';

/** The CLI works on the config files directly, as the local user: audited as `cli`. */
const cliActor = (command: string) => ({ tokenId: 'cli', route: `credflow ${command}` });

type Globals = (cmd: Command) => GlobalOptions;

export function registerValidate(program: Command, globals: Globals): void {
  program
    .command('validate')
    .description('check every file in workflows/ and integrations/; one line per problem')
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
        });
      } else if (ok) {
        printLine(
          `ok: ${config.workflows.size} workflow(s), ${config.integrations.size} integration(s) in ${config.dir}`,
        );
      } else {
        for (const problem of config.problems) printNotice(problem);
      }
      if (!ok) process.exitCode = 1;
    });
}

export function registerWorkflows(program: Command, globals: Globals): void {
  const workflows = program.command('workflows').description('list and run credentials workflows');
  workflows
    .command('list')
    .description('list the workflows')
    .action(async (_opts, cmd: Command) => {
      const g = globals(cmd);
      await withAgent(g, async (agent) => {
        const list = agent.listWorkflows();
        if (g.json) printJson({ workflows: list });
        else
          printLine(
            formatTable(
              ['name', 'steps', 'params', 'description'],
              list.map((w) => ({ ...w, steps: w.steps.join(', '), params: w.params.join(', ') })),
            ),
          );
      });
    });
  workflows
    .command('run')
    .description('run a workflow and preview what it returns (secrets masked unless --reveal)')
    .argument('<name>', 'workflow name')
    .option(
      '--param <key=value>',
      'a param over the workflow defaults (repeatable; JSON values allowed)',
      collectKeyValue,
      {},
    )
    .option('--reveal', 'show secret values unmasked', false)
    .option(
      '--profile <name>',
      'profile the workflow sees as context.profile (default: CREDFLOW_DEFAULT_PROFILE or "default")',
      parseProfile,
    )
    .action(
      async (
        name: string,
        opts: { param: Record<string, unknown>; reveal: boolean; profile?: string },
        cmd: Command,
      ) => {
        const g = globals(cmd);
        await withAgent(
          g,
          async (agent) => {
            try {
              const preview = await agent.previewWorkflow(name, {
                params: opts.param,
                reveal: opts.reveal,
                ...(opts.profile ? { profile: opts.profile } : {}),
                actor: cliActor('workflows run'),
              });
              if (g.json) {
                printJson(preview);
                return;
              }
              printLine(
                `workflow ${name}: ok in ${preview.durationMs} ms${preview.masked ? ' (secrets masked; --reveal to show)' : ''}`,
              );
              printSteps(preview.steps);
              printLine('response:');
              printReadableJson(preview.response);
            } catch (error) {
              // A failed run's steps (masked unless revealed) come in its error, in process or over HTTP.
              const steps = g.json ? undefined : failedPreviewSteps(error);
              if (steps) printSteps(steps);
              throw error;
            }
          },
          { secrets: true },
        );
      },
    );
}

/** Each step, then its log lines after `    | `; a log line with line breaks gets the prefix on each of its lines. */
function printSteps(steps: { name: string; durationMs: number; logs: string[] }[]): void {
  for (const step of steps) {
    printLine(`  step ${safeCell(step.name)} (${step.durationMs} ms)`);
    for (const line of step.logs) printLine(`    | ${safeMessage(line, '    | ')}`);
  }
}

const remoteTokenHelp = `
The API token comes from --token, else --token-file, else CREDFLOW_TOKEN, else the first of
CREDFLOW_API_TOKENS. Prefer CREDFLOW_TOKEN or --token-file: a --token is visible to every local user
in ps.`;

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
  const remote = (command: Command) =>
    command
      .option('--url <url>', 'the running agent (default: CREDFLOW_URL, or the agent npm start runs in --dir)')
      .option(
        '--token-file <path>',
        'read the API token from the first line of this file (mode 600: refused if group or others can access it)',
      )
      .option(
        '--token <token>',
        'API token; every local user can read it in ps, so prefer CREDFLOW_TOKEN or --token-file',
      )
      .addHelpText('after', remoteTokenHelp);
  remote(
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
  remote(
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
