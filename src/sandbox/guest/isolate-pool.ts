import ivm from 'isolated-vm';
import { bootstrapSource } from './bootstrap-source.js';
import { ivmOptions } from './ivm-options.js';

/** An isolate made ahead of time for exactly one run: its first context and compiled bootstrap. */
export interface PreparedIsolate {
  isolate: ivm.Isolate;
  context: ivm.Context;
  script: ivm.Script;
  memoryMb: number;
}

/**
 * Made once per process. Isolates start from a V8 startup snapshot that holds nothing but V8's own
 * built-ins (its one script is an empty 'use strict' directive), so every isolate made from it is
 * as fresh as a new one. The bootstrap's V8 code cache lets each new isolate skip compiling it.
 */
let startup:
  { snapshot: ivm.ExternalCopy<ArrayBuffer>; scriptOptions: ivm.ScriptOrigin & ivm.CachedDataOptions } | undefined;

const filename = 'credflow-step.js';

function startupData(): NonNullable<typeof startup> {
  if (!startup) {
    const snapshot = ivm.Isolate.createSnapshot([ivmOptions({ code: "'use strict';" })]);
    const probe = new ivm.Isolate(ivmOptions({ memoryLimit: 16, snapshot }));
    try {
      const script = probe.compileScriptSync(bootstrapSource, ivmOptions({ filename, produceCachedData: true }));
      const codeCache = (script as ivm.Script & ivm.CachedDataResult).cachedData;
      startup = { snapshot, scriptOptions: ivmOptions({ filename, ...(codeCache ? { cachedData: codeCache } : {}) }) };
    } finally {
      probe.dispose();
    }
  }
  return startup;
}

/** A new isolate from the startup snapshot, and the options that compile the bootstrap from its code cache. */
function newIsolate(memoryMb: number): {
  isolate: ivm.Isolate;
  scriptOptions: ivm.ScriptOrigin & ivm.CachedDataOptions;
} {
  const { snapshot, scriptOptions } = startupData();
  return { isolate: new ivm.Isolate(ivmOptions({ memoryLimit: memoryMb, snapshot })), scriptOptions };
}

/**
 * The same as prepareIsolate, but the context and the script are made on the isolate's own thread:
 * only the isolate's creation holds this thread, so a run that arrives while the pool refills waits
 * less.
 */
export async function prepareIsolateAsync(memoryMb: number): Promise<PreparedIsolate> {
  const { isolate, scriptOptions } = newIsolate(memoryMb);
  try {
    const context = await isolate.createContext();
    const script = await isolate.compileScript(bootstrapSource, scriptOptions);
    return { isolate, context, script, memoryMb };
  } catch (error) {
    isolate.dispose();
    throw error;
  }
}

/** Creates an isolate, a context and the compiled bootstrap script. */
export function prepareIsolate(memoryMb: number): PreparedIsolate {
  const { isolate, scriptOptions } = newIsolate(memoryMb);
  try {
    const context = isolate.createContextSync();
    const script = isolate.compileScriptSync(bootstrapSource, scriptOptions);
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

  /** `onFull` is told each time the pool is full again (after start-up and after each refill). */
  constructor(
    private readonly size: number,
    private readonly memoryMb: number,
    private readonly onFull: () => void = () => undefined,
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
    if (this.refilling || this.closed) return;
    if (this.ready.length >= this.size) {
      this.onFull();
      return;
    }
    this.refilling = true;
    setImmediate(() => {
      if (this.closed || this.ready.length >= this.size) {
        this.refilling = false;
        return;
      }
      prepareIsolateAsync(this.memoryMb).then(
        (prepared) => {
          this.refilling = false;
          if (this.closed) {
            prepared.isolate.dispose();
            return;
          }
          this.ready.push(prepared);
          this.scheduleRefill();
        },
        () => {
          // Out of memory or similar: runs make their own isolate until a later refill succeeds.
          this.refilling = false;
        },
      );
      // Not unref'd: an unref'd immediate does not keep the event loop from blocking for I/O, so in
      // an idle worker the refill would wait for the next message (the next run), which would then
      // find no prepared isolate.
    });
  }
}
