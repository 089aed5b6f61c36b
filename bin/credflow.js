#!/usr/bin/env -S node --no-node-snapshot
// isolated-vm needs --no-node-snapshot on Node 20; the shebang passes it when run as a command.
// credflow targets Node 20 on purpose; the AWS SDK's notice about its future Node 22 floor is noise
// on every command. Set the variable to anything else to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { main } = await import('../dist/cli/index.js');

const code = await main(process.argv.slice(2));
process.exitCode = code;
