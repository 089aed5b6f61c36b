import type { Command } from 'commander';

const remoteTokenHelp = `
The API token comes from --token, else --token-file, else CREDFLOW_TOKEN, else the first of
CREDFLOW_API_TOKENS. Prefer CREDFLOW_TOKEN or --token-file: a --token is visible to every local user
in ps.`;

/** The options of a command that talks to a running agent: where it is and the API token. */
export interface RemoteFlags {
  url?: string;
  token?: string;
  tokenFile?: string;
}

/** Adds --url, --token-file and --token (with their help) to a command. */
export function remoteOptions(
  command: Command,
  urlHelp = 'the running agent (default: CREDFLOW_URL, or the agent npm start runs in --dir)',
): Command {
  return command
    .option('--url <url>', urlHelp)
    .option(
      '--token-file <path>',
      'read the API token from the first line of this file (mode 600: refused if group or others can access it)',
    )
    .option(
      '--token <token>',
      'API token; every local user can read it in ps, so prefer CREDFLOW_TOKEN or --token-file',
    )
    .addHelpText('after', remoteTokenHelp);
}
