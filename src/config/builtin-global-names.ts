import ivm from 'isolated-vm';

let cached: ReadonlySet<string> | undefined;

/**
 * The global names of a bare isolate context (Object, JSON, undefined, Promise, ...), read once from
 * a real isolate so the list matches the V8 that runs the steps. No step code runs in that isolate,
 * so its options need none of the care the sandbox's own take (the sandbox's ivmOptions).
 */
export function builtinGlobalNames(): ReadonlySet<string> {
  if (cached) return cached;
  const isolate = new ivm.Isolate({ memoryLimit: 8 });
  try {
    const context = isolate.createContextSync();
    const names = context.evalSync('JSON.stringify(Object.getOwnPropertyNames(globalThis))') as string;
    cached = new Set(JSON.parse(names) as string[]);
    return cached;
  } finally {
    isolate.dispose();
  }
}
