import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BufferedDestination } from '../../src/logging/index.js';

describe('BufferedDestination', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes gathered lines in order once maxChars is reached, in one call', () => {
    const writes: string[] = [];
    const dest = new BufferedDestination(
      { write: (t: string) => writes.push(t) },
      { maxChars: 10, maxDelayMs: 60_000 },
    );
    dest.write('abcd\n');
    expect(writes).toEqual([]);
    dest.write('efgh\n');
    expect(writes).toEqual(['abcd\nefgh\n']);
    dest.end();
  });

  it('writes what it gathered after maxDelayMs, and on flush()', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    const dest = new BufferedDestination({ write: (t: string) => writes.push(t) }, { maxChars: 1000, maxDelayMs: 50 });
    dest.write('one\n');
    vi.advanceTimersByTime(49);
    expect(writes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(writes).toEqual(['one\n']);
    dest.write('two\n');
    dest.flush();
    expect(writes).toEqual(['one\n', 'two\n']);
    dest.flush();
    expect(writes).toHaveLength(2);
    dest.end();
  });

  it('writes what it gathered when the process exits', () => {
    const module = fileURLToPath(new URL('../../dist/logging/buffered-destination.js', import.meta.url));
    const script = `const { BufferedDestination } = await import(${JSON.stringify(module)}); const d = new BufferedDestination(process.stdout, { maxDelayMs: 60000 }); d.write('last line\\n'); process.exitCode = 0;`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.stdout).toBe('last line\n');
  });
});
