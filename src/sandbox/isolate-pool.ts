import ivm from 'isolated-vm';
import { bootstrapSource } from './bootstrap-source.js';

/** An isolate made ahead of time for exactly one run: its first context and compiled bootstrap. */
export interface PreparedIsolate {
  isolate: ivm.Isolate;
  context: ivm.Context;
  script: ivm.Script;
  memoryMb: number;
}

/** Creates an isolate, a context and the compiled bootstrap script. */
export function prepareIsolate(memoryMb: number): PreparedIsolate {
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
  try {
    const context = isolate.createContextSync();
    const script = isolate.compileScriptSync(bootstrapSource, { filename: 'credflow-step.js' });
    return { isolate, context, script, memoryMb };
  } catch (error) {
    isolate.dispose();
    throw error;
  }
}

/**
 * Keeps a few isolates prepared off the request path, so a run does not wait for isolate and
 * context creation. Each one serves a single run and is disposed after it: nothing is shared
 * between runs. Refills happen in a later turn of the event loop.
 */
export class IsolatePool {
  private readonly ready: PreparedIsolate[] = [];
  private refilling = false;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly memoryMb: number,
  ) {
    this.scheduleRefill();
  }

  /** A prepared isolate with this memory limit, or a freshly made one when none is ready. */
  take(memoryMb: number): PreparedIsolate {
    const prepared = memoryMb === this.memoryMb ? this.ready.pop() : undefined;
    return prepared ?? prepareIsolate(memoryMb);
  }

  /** Prepares isolates up to the pool size, in later turns of the event loop (called after a run). */
  replenish(): void {
    this.scheduleRefill();
  }

  close(): void {
    this.closed = true;
    for (const prepared of this.ready.splice(0)) prepared.isolate.dispose();
  }

  private scheduleRefill(): void {
    if (this.refilling || this.closed || this.ready.length >= this.size) return;
    this.refilling = true;
    setImmediate(() => {
      this.refilling = false;
      if (this.closed || this.ready.length >= this.size) return;
      try {
        this.ready.push(prepareIsolate(this.memoryMb));
      } catch {
        // Out of memory or similar: runs make their own isolate until a later refill succeeds.
        return;
      }
      this.scheduleRefill();
    }).unref();
  }
}
