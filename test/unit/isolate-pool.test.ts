import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const poolModule = pathToFileURL(path.join(repoRoot, 'dist/sandbox/guest/isolate-pool.js')).href;

/**
 * In a process of its own, as in a sandbox worker: the pool fills, one isolate is taken, and the
 * refill is asked for from a setImmediate callback, as a run's cleanup does. Nothing else is due
 * for 3 s but a timer, which stands for the next message a worker would get. A refill takes a few
 * ms; one that waits for the loop to be woken comes after the timer. Prints the order of events.
 */
const script = `
import { IsolatePool } from ${JSON.stringify(poolModule)};
const events = [];
let fulls = 0;
const timer = setTimeout(() => { events.push('timer'); console.log(events.join(' ')); pool.close(); }, 3000);
const pool = new IsolatePool(1, 16, () => {
  fulls += 1;
  events.push('full' + fulls);
  if (fulls === 1) {
    pool.take(16).isolate.dispose();
    setImmediate(() => pool.replenish());
  } else {
    clearTimeout(timer);
    console.log(events.join(' '));
    pool.close();
  }
});
`;

describe('IsolatePool', () => {
  it('refills in an idle process without waiting for other I/O to wake its event loop', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--no-node-snapshot', '--input-type=module', '-e', script],
      { timeout: 30_000 },
    );
    // Before the fix the refill's unref'd immediate waited for the timer: "full1 timer".
    expect(stdout.trim()).toBe('full1 full2');
  });
});
