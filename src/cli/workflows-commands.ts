import { cliActor } from './cli-actor.js';
import type { Command } from 'commander';
import { failedPreviewSteps, type Preview } from '../workflows/index.js';
import { callAgent } from './agent-client.js';
import { withAgent, type GlobalOptions } from './context.js';
import { formatTable } from './format-table.js';
import { collectKeyValue, parseProfile } from './parse-param.js';
import { printJson, printLine, printReadableJson } from './print.js';
import { remoteOptions, type RemoteFlags } from './remote-options.js';
import { safeCell, safeMessage } from './safe-text.js';

/** The CLI works on the config files directly, as the local user: audited as `cli`. */

interface RunFlags extends RemoteFlags {
  param: Record<string, unknown>;
  reveal: boolean;
  profile?: string;
}

export function registerWorkflows(program: Command, globals: (cmd: Command) => GlobalOptions): void {
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
  remoteOptions(
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
      ),
    'run it on this running agent (its API) instead of in this process',
  ).action(async (name: string, opts: RunFlags, cmd: Command) => {
    const g = globals(cmd);
    try {
      const preview =
        opts.url === undefined
          ? await withAgent(
              g,
              (agent) =>
                agent.previewWorkflow(name, {
                  params: opts.param,
                  reveal: opts.reveal,
                  ...(opts.profile ? { profile: opts.profile } : {}),
                  actor: cliActor('workflows run'),
                }),
              { secrets: true },
            )
          : ((await callAgent(
              { ...opts, dir: g.dir },
              'POST',
              `/api/v1/workflows/${encodeURIComponent(name)}/run${opts.profile ? `?profile=${encodeURIComponent(opts.profile)}` : ''}`,
              { params: opts.param, reveal: opts.reveal },
            )) as Preview);
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
  });
}

/** Each step, then its log lines after `    | `; a log line with line breaks gets the prefix on each of its lines. */
function printSteps(steps: { name: string; durationMs: number; logs: string[] }[]): void {
  for (const step of steps) {
    printLine(`  step ${safeCell(step.name)} (${step.durationMs} ms)`);
    for (const line of step.logs) printLine(`    | ${safeMessage(line, '    | ')}`);
  }
}
