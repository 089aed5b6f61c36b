import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CredflowError, exitCodes } from '../errors.js';
import { registerIntegrations, registerQuery, registerValidate } from './commands.js';
import type { GlobalOptions } from './context.js';
import { printError, printJson } from './print.js';
import { safeLines } from './safe-text.js';
import { registerSecrets } from './secrets-put.js';
import { registerServe } from './serve.js';
import { registerWorkflows } from './workflows-commands.js';

/** The version in package.json (dist/cli/ and src/cli/ are both two folders below it). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** Exit codes: 0 ok, 2 bad usage, else the error table's (1 a failure to fix, 75 retry later). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command();
  program
    .name('credflow')
    .description(
      'Open database connections with credentials fetched by sandboxed workflows at the moment they are needed.',
    )
    .option('--dir <path>', 'folder holding workflows/ and integrations/', process.cwd())
    .option('--json', 'machine-readable JSON output', false)
    .option('-v, --verbose', 'log agent events to stderr', false)
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(safeLines(text)) });
  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();
  registerServe(program, globals);
  registerValidate(program, globals);
  registerWorkflows(program, globals);
  registerIntegrations(program, globals);
  registerQuery(program, globals);
  registerSecrets(program, globals);
  for (const cmd of program.commands) cmd.exitOverride();
  for (const cmd of program.commands.flatMap((c) => c.commands)) cmd.exitOverride();

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0)
        return 0;
      // commander has printed the usage text to stderr; --json callers also get the error shape.
      if (argv.includes('--json'))
        printJson({ error: { code: 'BAD_USAGE', message: error.message.replace(/^error: /, '') } });
      return exitCodes.usage;
    }
    const json = program.opts<GlobalOptions>().json;
    printError(error, json);
    return error instanceof CredflowError ? error.exitCode : exitCodes.failed;
  }
}
