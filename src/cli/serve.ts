import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { startAgent, type RunningAgent } from '../agent/index.js';
import { startEmbedded } from '../embedded/index.js';
import type { GlobalOptions } from './context.js';
import { printLine } from './print.js';

const parsePort = (raw: string): number => {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError('must be a port number (0-65535)');
  return port;
};

export function registerServe(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  program
    .command('serve')
    .description(
      'serve the HTTP API for the configuration in --dir (--embedded: with its own PostgreSQL and Secrets Manager endpoint)',
    )
    .option(
      '--embedded',
      'start an embedded PostgreSQL and a local Secrets Manager and SSM endpoint seeded with postgresSecrets and /credflow/demo/postgres',
      false,
    )
    .option('--port <port>', 'port to listen on (default: PORT or 8080)', parsePort)
    .option('--host <host>', 'address to listen on (default: HOST or 127.0.0.1)')
    .action(async (opts: { embedded: boolean; port?: number; host?: string }, cmd: Command) => {
      const g = globals(cmd);
      const dir = path.resolve(g.dir);
      const listen = {
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        ...(opts.host ? { host: opts.host } : {}),
      };
      // Signals are handled from the start, so Ctrl-C during start-up still cleans up.
      let signalled: string | undefined;
      let wake: () => void = () => undefined;
      const onSignal = (signal: string) => {
        signalled ??= signal;
        wake();
      };
      // SIGHUP is not one of them: it reloads the configuration (see startAgent).
      const signals = ['SIGINT', 'SIGTERM'] as const;
      const handlers = signals.map((signal) => [signal, () => onSignal(signal)] as const);
      for (const [signal, handler] of handlers) process.on(signal, handler);
      const parentWatch = watchParent(() => onSignal('parent exit'));
      try {
        let stop: () => Promise<void>;
        if (opts.embedded) {
          printLine('credflow: starting the embedded PostgreSQL, Secrets Manager/SSM endpoint and Vault endpoint…');
          const stack = await startEmbedded({ dir, ...listen, onNotice: (line) => printLine(`credflow: ${line}`) });
          stop = stack.stop;
          printBanner(
            stack.agent,
            `embedded PostgreSQL on 127.0.0.1:${stack.postgres.port}, Secrets Manager and SSM endpoint at ${stack.secrets.url}, Vault at ${stack.vault.url}`,
          );
        } else {
          const agent = await startAgent({ dir, ...listen });
          stop = () => agent.close();
          printBanner(agent);
        }
        if (!signalled) await new Promise<void>((resolve) => (wake = resolve));
        printLine(`credflow: ${signalled ?? 'signal'} received, shutting down…`);
        await stop();
      } finally {
        for (const [signal, handler] of handlers) process.off(signal, handler);
        clearInterval(parentWatch);
      }
      printLine('credflow: stopped');
    });
}

/**
 * Under npm (npm start), stops the agent when npm goes away without forwarding a signal (kill -9,
 * a closed terminal): the agent is then reparented, so its parent pid changes.
 */
function watchParent(onGone: () => void): NodeJS.Timeout | undefined {
  if (!process.env.npm_lifecycle_event) return undefined;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) onGone();
  }, 500);
  timer.unref();
  return timer;
}

function printBanner(running: RunningAgent, embedded?: string): void {
  const token = running.tokens[0] ?? '';
  const served = running.agent.configStatus();
  const integrations = running.agent.listIntegrations();
  const integration = integrations.some((i) => i.name === 'demo-postgres') ? 'demo-postgres' : integrations[0]?.name;
  printLine('');
  printLine(`credflow agent listening on ${running.url}`);
  if (embedded) printLine(`  ${embedded}`);
  printLine(`  ${served.workflows} workflow(s), ${served.integrations} integration(s) from ${served.dir}`);
  printLine(
    running.generatedToken
      ? `  API token (generated for this run; set CREDFLOW_API_TOKENS to choose): ${token}`
      : '  API token: as configured (CREDFLOW_API_TOKENS or CREDFLOW_TOKENS_FILE)',
  );
  if (integration) {
    // A configured token is not printed: the command reads it from CREDFLOW_TOKEN, in double quotes so the shell expands it.
    const authorization = running.generatedToken
      ? `'Authorization: Bearer ${token}'`
      : '"Authorization: Bearer $CREDFLOW_TOKEN"';
    const sql =
      integration === 'demo-postgres' ? 'SELECT id, customer, item, total FROM orders ORDER BY id' : 'SELECT 1 AS ok';
    printLine('');
    printLine(running.generatedToken ? 'Try it:' : 'Try it (set CREDFLOW_TOKEN to one of your API tokens first):');
    printLine(
      `  curl -s -X POST ${running.url}/api/v1/integrations/${integration}/query -H ${authorization} -H 'Content-Type: application/json' -d '{"sql":"${sql}"}'`,
    );
  }
  printLine('');
  printLine('Press Ctrl-C to stop.');
}
