#!/usr/bin/env -S node --no-node-snapshot
// isolated-vm needs --no-node-snapshot on Node 20; the shebang passes it when run as a command.
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
