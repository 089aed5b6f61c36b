import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  defaultWorkerMaxRssMb,
  leastWorkerMaxRssMb,
  residentMemoryMb,
} from '../../src/sandbox/host/resident-memory.js';

describe('a sandbox worker resident memory', () => {
  it('derives the default bound from the isolates a worker can hold, plus 256 MB for Node itself', () => {
    expect(defaultWorkerMaxRssMb({ concurrency: 4, prewarm: 1, memoryMb: 64 })).toBe(576);
    expect(defaultWorkerMaxRssMb({ concurrency: 1, prewarm: 0, memoryMb: 32 })).toBe(288);
    expect(leastWorkerMaxRssMb({ prewarm: 1, memoryMb: 32 })).toBe(320);
  });

  it('reads VmRSS of a live process in MB, and nothing for a process that is gone', async () => {
    // This process holds at least its own heap.
    const own = residentMemoryMb('self');
    expect(own).toBeGreaterThanOrEqual(Math.floor(process.memoryUsage().heapUsed / 1024 / 1024));
    // Once it has printed, Node is loaded: several MB resident.
    const child = spawn(process.execPath, ['-e', "console.log('up'); setInterval(() => {}, 1000)"], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await once(child.stdout, 'data');
    expect(residentMemoryMb(child.pid!)).toBeGreaterThan(0);
    child.kill('SIGKILL');
    await once(child, 'exit');
    expect(residentMemoryMb(child.pid!)).toBeUndefined();
  });
});
