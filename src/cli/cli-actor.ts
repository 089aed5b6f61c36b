/** Who asks, for the audit line of a command run in process: the CLI, and the command. */
export const cliActor = (command: string) => ({ tokenId: 'cli', route: `credflow ${command}` });
