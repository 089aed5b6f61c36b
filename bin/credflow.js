#!/usr/bin/env -S node --no-node-snapshot
// isolated-vm (7.x, on Node 24) still needs --no-node-snapshot; the shebang passes it when run as a command.
const { main } = await import('../dist/cli/index.js');

const code = await main(process.argv.slice(2));
process.exitCode = code;
