import ivm from 'isolated-vm';
import { ivmOptions } from './ivm-options.js';

let cached: ReadonlySet<string> | undefined;

/**
 * The global names of a bare isolate context (Object, JSON, undefined, Promise, ...), read once from
 * a real isolate so the list matches the V8 that runs the steps.
 */
export function builtinGlobalNames(): ReadonlySet<string> {
  if (cached) return cached;
  const isolate = new ivm.Isolate(ivmOptions({ memoryLimit: 8 }));
  try {
    const context = isolate.createContextSync();
    const names = context.evalSync('JSON.stringify(Object.getOwnPropertyNames(globalThis))') as string;
    cached = new Set(JSON.parse(names) as string[]);
    return cached;
  } finally {
    isolate.dispose();
  }
}
