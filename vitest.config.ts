import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    // isolated-vm needs --no-node-snapshot (still on Node 24); worker threads cannot take it, forks can.
    pool: 'forks',
    execArgv: ['--no-node-snapshot'],
    globalSetup: ['test/global-setup.ts'],
    // Under CI a JSON report is written too, so .ci/run can print a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
