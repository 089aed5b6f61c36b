import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BridgeError, SandboxWorkers } from '../../src/sandbox/index.js';

/**
 * Issue 11: credflow runs on Node 24 LTS. `npm test` runs on the project's own Node (the `node`
 * development dependency, first on npm's PATH), and the sandbox workers, forked with
 * process.execPath, on the same binary, with flags that Node accepts.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const limits = {
  memoryMb: 32,
  stepTimeoutMs: 5000,
  runTimeoutMs: 10000,
  maxResponseBytes: 10000,
  maxBridgeCalls: 5,
  maxLogBytes: 8192,
  maxLogLines: 200,
  maxRunLogBytes: 256 * 1024,
  maxRunLogLines: 1000,
};
const workers = new SandboxWorkers({
  size: 1,
  prewarm: 1,
  memoryMb: limits.memoryMb,
  logger: pino({ level: 'silent' }),
});

afterAll(async () => {
  await workers.close();
});

function runStep(code: string): Promise<unknown> {
  return workers
    .run({
      workflow: 'runtime',
      steps: [{ name: 'probe', code }],
      input: { params: {}, env: {}, context: { workflow: 'runtime', integration: 'none' } },
      limits,
      bridge: async () => {
        throw new BridgeError('AccessDeniedException', 'no bridge in this test', 'Forbidden');
      },
    })
    .then((outcome) => {
      if (!outcome.ok) throw outcome.error;
      return outcome.response;
    });
}

describe('the Node.js runtime', () => {
  it('is the Node 24 that package.json engines ask for', () => {
    const engines = (
      JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }
    ).engines.node;
    expect(engines).toBe('>=24');
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
  });

  it('starts sandbox workers on the same Node binary, and a step there sees no WebAssembly', async () => {
    const response = await runStep(
      `return { type: typeof WebAssembly, own: Object.getOwnPropertyNames(globalThis).includes('WebAssembly'), keyed: Reflect.ownKeys(globalThis).map(String).filter((k) => /wasm|webassembly/i.test(k)) };`,
    );
    expect(response).toEqual({ type: 'undefined', own: false, keyed: [] });
    const [pid] = workers.pids();
    expect(pid).toEqual(expect.any(Number));
    expect(readlinkSync(`/proc/${pid}/exe`)).toBe(realpathSync(process.execPath));
  });
});
