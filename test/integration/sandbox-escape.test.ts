import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivedForms } from '../../src/masking/derived-forms.js';
import { spinFor, until, workerExitLines } from '../support/sandbox-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';

/**
 * Attempts to get out of the sandbox, or to hurt the agent from inside it, made through the real
 * agent over HTTP: its sandbox worker processes, the IPC bridge and a local Secrets Manager endpoint.
 * Every attempt is a workflow of its own; after each, a known-good workflow must still fetch the
 * seeded secret. Each test asserts the safe outcome.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The seeded secret's password: it must never show up in a response body or a log line. */
const PASSWORD = 'Pw-escape-4f9c1d"&<>{{x}}\\b7e2';
const OTHER_VALUE = 'other-team-value-93ad17e5';
const APP_SECRET = JSON.stringify({ username: 'svc_app', password: PASSWORD, host: 'db.internal' });

const limits = {
  memoryMb: 32,
  stepTimeoutMs: 1000,
  runTimeoutMs: 2000,
  maxResponseBytes: 65536,
  maxBridgeCalls: 5,
  maxLogLines: 50,
  maxLogBytes: 1024,
  maxRunLogBytes: 256 * 1024,
  maxRunLogLines: 1000,
};
const WORKERS = 2;

const CANARY = { CREDFLOW_ESCAPE_CANARY: 'credflow-canary-5be1', AWS_ESCAPE_CANARY: 'aws-canary-77d0' };

// ---------------------------------------------------------------------------------------------
// Workflows: one file per attempt, all written before the agent starts.

const workflows: Record<string, Record<string, unknown>> = {};

interface StepDef {
  name: string;
  code: string;
}

/** Registers a workflow (one step named "attempt" when given code) and returns its name. */
function workflow(name: string, code: string | StepDef[], extra: Record<string, unknown> = {}): string {
  if (workflows[name]) throw new Error(`duplicate workflow ${name}`);
  workflows[name] = { name, ...extra, steps: typeof code === 'string' ? [{ name: 'attempt', code }] : code };
  return name;
}

const healthy = workflow(
  'healthy',
  `const r = await aws.secretsManager.getSecretValue({ SecretId: 'app/db' });
   const s = JSON.parse(r.SecretString);
   return { ok: true, user: s.username, length: s.password.length };`,
);

// ---------------------------------------------------------------------------------------------
// Helpers

let t: TestAgent;
let rssAtStart = 0;

interface RunResult {
  status: number;
  body: any;
  text: string;
  ms: number;
}

async function run(name: string, body: unknown = {}): Promise<RunResult> {
  const started = Date.now();
  const res = await t.request('POST', `/api/v1/workflows/${name}/run`, body);
  return { ...res, ms: Date.now() - started };
}

/** The default bound of a worker's resident memory: (concurrency 4 + prewarm 1) x the isolate limit + 256 MB. */
const workerMaxRssMb = 5 * limits.memoryMb + 256;
const residentMemoryStop = new RegExp(`its resident memory of \\d+ MB was over the bound of ${workerMaxRssMb} MB`);

/** The current worker pids, once the pool is back to full strength (a replacement starts 50 ms after a crash). */
/** Workers the agent stopped for their resident memory so far (counted when it decides to stop one). */
async function memoryStops(): Promise<number> {
  const { values } = await t.agent.parts.metrics.sandboxWorkersStopped.get();
  return values.find((v) => v.labels.reason === 'memory')?.value ?? 0;
}

async function workerPids(): Promise<number[]> {
  for (let i = 0; i < 200 && t.agent.parts.sandbox.pids().length < WORKERS; i++) await sleep(20);
  return [...t.agent.parts.sandbox.pids()].sort((a, b) => a - b);
}

/**
 * The agent still answers: /healthz, and a known-good workflow that fetches the seeded secret. When
 * `sameWorkers` is given, no sandbox worker was lost along the way either.
 */
async function expectAgentHealthy(sameWorkers?: number[]): Promise<void> {
  const health = await t.request('GET', '/healthz', undefined, null);
  expect(health.status).toBe(200);
  const res = await run(healthy);
  expect(res.status, res.text).toBe(200);
  expect(res.body.response).toEqual({ ok: true, user: 'svc_app', length: PASSWORD.length });
  if (sameWorkers) expect(await workerPids(), 'a sandbox worker was lost').toEqual(sameWorkers);
}

/** Host details that must never reach a step, a response or a step log. */
function hostLeaks(text: string): string[] {
  const needles = [
    repoRoot,
    t.dir,
    'node_modules',
    '/dist/',
    'node:internal',
    'file://',
    '.ts:',
    'worker-main',
    'sandbox-workers',
    'run-steps',
    'read-answer',
    'relay-bridge-call',
    'run-workflow',
    'secrets-bridge',
    'processTicksAndRejections',
    'isolated-vm',
  ];
  return needles.filter((needle) => text.includes(needle));
}

/** Stack frames that are not the sandbox's own (the bootstrap "credflow-step.js" or the step's eval'd code). */
function foreignFrames(stack: string): string[] {
  return stack
    .split('\n')
    .filter((line) => /^\s*at /.test(line))
    .filter((line) => !/credflow-step\.js|<anonymous>|\(index \d+\)/.test(line));
}

function expectFailure(
  res: RunResult,
  status: 502 | 504,
  code: 'WORKFLOW_FAILED' | 'WORKFLOW_TIMEOUT',
  message: string | RegExp,
): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body.error.code).toBe(code);
  if (typeof message === 'string') expect(res.body.error.message).toBe(message);
  else expect(res.body.error.message).toMatch(message);
  expect(hostLeaks(res.text)).toEqual([]);
}

const stepTimeout = (name: string, step = 'attempt') =>
  `workflow "${name}" failed in step "${step}": the step exceeded its time limit of ${limits.stepTimeoutMs} ms`;
const stepFailed = (name: string, why: string, step = 'attempt') =>
  `workflow "${name}" failed in step "${step}": ${why}`;
const memoryLimit = (name: string) => stepFailed(name, `the step exceeded the memory limit of ${limits.memoryMb} MB`);

// ---------------------------------------------------------------------------------------------
// 1. process, require, module, host objects through constructor chains

const constructorChains: [string, string, unknown][] = [
  [
    'this.constructor.constructor of the global object',
    `return this.constructor.constructor('return [typeof process, typeof require, typeof module]')();`,
    ['undefined', 'undefined', 'undefined'],
  ],
  [
    "Function('return this')()",
    `const g = Function('return this')();
     return [g === globalThis, typeof g.process, typeof g.require, typeof g.module, typeof g.global, typeof g.Buffer];`,
    [true, 'undefined', 'undefined', 'undefined', 'undefined', 'undefined'],
  ],
  [
    'globalThis and the usual Node globals',
    `return [typeof process, typeof globalThis.process, typeof require, typeof module, typeof exports, typeof __dirname,
             typeof __filename, typeof global, typeof Buffer, typeof setTimeout, typeof fetch, typeof queueMicrotask];`,
    Array.from({ length: 12 }, () => 'undefined'),
  ],
  [
    'aws.secretsManager.getSecretValue.constructor',
    `const F = aws.secretsManager.getSecretValue.constructor;
     return [F === Function, F('return typeof process')(), F('try { return String(process.env); } catch (e) { return e.name + ": " + e.message; }')()];`,
    [true, 'undefined', 'ReferenceError: process is not defined'],
  ],
  [
    "console.log.constructor('return process')",
    `try { return { got: typeof console.log.constructor('return process')() }; } catch (e) { return { name: e.name, message: e.message }; }`,
    { name: 'ReferenceError', message: 'process is not defined' },
  ],
  [
    'an error the host answered a bad getSecretValue call with',
    `try { await aws.secretsManager.getSecretValue({ SecretId: 42 }); return 'no error'; } catch (e) {
       return [e instanceof Error, Object.getPrototypeOf(e) === Error.prototype, e.__proto__.constructor === Error,
               e.constructor.constructor === Function, e.constructor.constructor('return typeof process')(),
               e.__proto__.__proto__ === Object.prototype, Object.getOwnPropertyNames(e).sort()];
     }`,
    [true, true, true, true, 'undefined', true, ['message', 'name', 'stack']],
  ],
  [
    'the promise a bridge call returns',
    `const p = aws.secretsManager.getSecretValue({ SecretId: 'app/db' });
     const seen = [p instanceof Promise, Object.getPrototypeOf(p) === Promise.prototype,
                   p.constructor.constructor('return typeof process')(), p.then.constructor('return typeof require')()];
     await p;
     return seen;`,
    [true, true, 'undefined', 'undefined'],
  ],
  [
    'the async and generator function constructors and the sandbox helpers',
    `const AF = (async () => {}).constructor;
     const GF = Object.getPrototypeOf(function* () {}).constructor;
     return [await AF('return typeof process')(), GF('yield typeof require')().next().value,
             atob.constructor('return typeof process')(), base64.decode.constructor('return typeof module')()];`,
    ['undefined', 'undefined', 'undefined', 'undefined'],
  ],
  [
    'the input objects params, Env and context',
    `return [params.constructor === Object, params.constructor.constructor('return typeof process')(),
             Env.constructor.constructor('return typeof process')(), context.constructor.constructor('return typeof require')()];`,
    [true, 'undefined', 'undefined', 'undefined'],
  ],
];
const constructorCases = constructorChains.map(
  ([title, code, expected], i) => [title, workflow(`ctorChain${i}`, code), expected] as const,
);

// ---------------------------------------------------------------------------------------------
// 2. stack-trace hooks

const callSitesOnBridgeError = workflow(
  'callSitesOnBridgeError',
  `const frames = [];
   Error.stackTraceLimit = Infinity;
   Error.prepareStackTrace = (error, sites) => {
     for (const c of sites) frames.push({ file: String(c.getFileName()), fn: String(c.getFunctionName()), self: typeof c.getThis(), func: typeof c.getFunction(), eval: String(c.getEvalOrigin()) });
     return 'hooked';
   };
   let stacks = '';
   try { await aws.secretsManager.getSecretValue({ SecretId: 'no/such/secret' }); } catch (e) { stacks += e.stack; }
   try { await aws.secretsManager.getSecretValue({ SecretId: 42 }); } catch (e) { stacks += e.stack; }
   try { await aws.secretsManager.getSecretValue(10n); } catch (e) { stacks += e.stack; }
   return { stacks, frames };`,
);

const callSitesInsideBootstrap = workflow(
  'callSitesInsideBootstrap',
  `const frames = [];
   Error.prepareStackTrace = (e, sites) => sites.map((c) => ({ file: String(c.getFileName()), fn: String(c.getFunctionName()), self: typeof c.getThis(), func: typeof c.getFunction() }));
   console.log({ toJSON: function () { const o = {}; Error.captureStackTrace(o); frames.push(...o.stack); return 'y'; } });
   console.log({ toJSON: function () { throw new Error('no JSON'); }, toString: function () { frames.push(...new Error('in console.log').stack); return 'x'; } });
   const out = {};
   Object.defineProperty(out, 'probe', { enumerable: true, get: function () { frames.push(...new Error('in a getter').stack); return frames; } });
   return out;`,
);

const stackStrings = workflow(
  'stackStrings',
  `Error.stackTraceLimit = 200;
   const texts = [];
   try { await aws.secretsManager.getSecretValue({ SecretId: 'no/such/secret' }); } catch (e) { texts.push(e.stack); Error.captureStackTrace(e); texts.push(e.stack); }
   const holder = {};
   Error.captureStackTrace(holder);
   texts.push(holder.stack, new Error('plain').stack);
   console.log(texts.join('\\n'));
   return texts;`,
);

const hookedThrow = workflow(
  'hookedThrow',
  `Error.stackTraceLimit = Infinity;
   Error.prepareStackTrace = (e, sites) => sites.map((c) => c.getFileName() + ':' + c.getFunctionName() + ':' + c.getLineNumber()).join(' < ');
   try { await aws.secretsManager.getSecretValue({ SecretId: '' }); } catch (e) { throw new Error('frames ' + e.stack); }`,
);

// ---------------------------------------------------------------------------------------------
// 3. import(), require, eval

const moduleAttempts: [string, string, number, unknown][] = [
  [
    "import('fs')",
    `try { const m = await import('fs'); return { got: typeof m.readFileSync }; } catch (e) { return { name: e.name, message: e.message }; }`,
    200,
    { name: 'Error', message: 'Not supported' },
  ],
  [
    "import('node:child_process')",
    `try { const m = await import('node:child_process'); return { got: typeof m.execSync }; } catch (e) { return { name: e.name, message: e.message }; }`,
    200,
    { name: 'Error', message: 'Not supported' },
  ],
  [
    "eval('import(...)')",
    `try { const m = await eval('import("node:fs/promises")'); return { got: typeof m }; } catch (e) { return { name: e.name, message: e.message }; }`,
    200,
    { name: 'Error', message: 'Not supported' },
  ],
  [
    "new Function('return import(...)')",
    `try { const m = await new Function('return import("fs")')(); return { got: typeof m }; } catch (e) { return { name: e.name, message: e.message }; }`,
    200,
    { name: 'Error', message: 'Not supported' },
  ],
  [
    "require('fs')",
    `try { return { got: typeof require('fs') }; } catch (e) { return { name: e.name, message: e.message }; }`,
    200,
    { name: 'ReferenceError', message: 'require is not defined' },
  ],
  [
    "eval('require')('child_process')",
    `try { return { got: typeof eval('require')('child_process') }; } catch (e) { return { name: e.name, message: e.message }; }`,
    200,
    { name: 'ReferenceError', message: 'require is not defined' },
  ],
  [
    "indirect eval of 'process'",
    `const g = (0, eval)('this'); try { return { global: g === globalThis, got: typeof (0, eval)('process') }; } catch (e) { return { global: g === globalThis, name: e.name, message: e.message }; }`,
    200,
    { global: true, name: 'ReferenceError', message: 'process is not defined' },
  ],
  // A static import and import.meta no longer reach the sandbox: the config is refused when it loads (test/unit/load-config.test.ts).
  [
    'an uncaught import() rejection',
    `await import('fs'); return 'imported';`,
    502,
    'workflow "moduleAttempt7" failed in step "attempt": Error: Not supported',
  ],
];
const moduleCases = moduleAttempts.map(
  ([title, code, status, expected], i) => [title, workflow(`moduleAttempt${i}`, code), status, expected] as const,
);

// ---------------------------------------------------------------------------------------------
// 4. host paths and frames through bridge error messages

const tryEach = (list: string) => `
  const out = [];
  for (const request of ${list}) {
    try { await aws.secretsManager.getSecretValue(request); out.push({ name: 'no error' }); }
    catch (e) { out.push({ name: e.name, message: e.message, stack: String(e.stack), code: String(e.code) }); }
  }
  return out;`;

const bridgeErrorCases: [string, string, string[]][] = [
  [
    'arguments of the wrong shape',
    tryEach(`[undefined, null, 5, 'app/db', {}]`),
    Array.from({ length: 5 }, () => 'InvalidParameterException'),
  ],
  [
    'out-of-range values (an empty or 5000-character SecretId, a bad region, an unknown key, bad credentials)',
    tryEach(
      `[{ SecretId: '' }, { SecretId: 'x'.repeat(5000) }, { SecretId: 'app/db', region: 'ZZ!/../..' }, { SecretId: 'app/db', Unknown: 1 }, { SecretId: 'app/db', credentials: { accessKeyId: 1 } }]`,
    ),
    Array.from({ length: 5 }, () => 'InvalidParameterException'),
  ],
  [
    'arguments JSON cannot carry (BigInt, a cycle, a symbol, a throwing getter, a function)',
    `const cyclic = { SecretId: 'app/db' }; cyclic.self = cyclic;
     const throwing = {}; Object.defineProperty(throwing, 'SecretId', { enumerable: true, get() { throw new Error('getter says no'); } });
     ${tryEach(`[{ SecretId: 1n }, cyclic, { SecretId: Symbol('s') }, throwing, { SecretId: 'no/such/secret', extra: () => process }]`)}`,
    ['TypeError', 'TypeError', 'InvalidParameterException', 'TypeError', 'ResourceNotFoundException'],
  ],
  [
    'an unknown secret, version stage or version id',
    tryEach(
      `[{ SecretId: 'no/such/secret' }, { SecretId: 'app/db', VersionStage: 'NOPE' }, { SecretId: 'app/db', VersionId: '0123456789abcdef0123456789abcdef' }]`,
    ),
    ['ResourceNotFoundException', 'ResourceNotFoundException', 'ResourceNotFoundException'],
  ],
];
const bridgeErrorWorkflows = bridgeErrorCases.map(
  ([title, code, names], i) => [title, workflow(`bridgeErrors${i}`, code), names] as const,
);

const storeFailure = workflow('storeFailure', tryEach(`[{ SecretId: 'app/db' }]`));
const uncaughtBridgeError = workflow(
  'uncaughtBridgeError',
  `await aws.secretsManager.getSecretValue({ SecretId: 'x'.repeat(3000), Extra: true }); return 'unreachable';`,
);

// ---------------------------------------------------------------------------------------------
// 5. tricky returned values

const returnedValues: [string, string, 200 | 502 | 504, unknown][] = [
  [
    'a getter that looks for process',
    `return { get where() { return typeof process; } };`,
    200,
    { where: 'undefined' },
  ],
  [
    'a getter that throws',
    `return { get boom() { throw new Error('thrown by a getter'); } };`,
    502,
    'Error: thrown by a getter',
  ],
  ['a getter that loops forever', `return { get spin() { for (;;) {} } };`, 504, 'timeout'],
  [
    'a proxy whose traps throw',
    `return new Proxy({}, { getPrototypeOf() { throw new Error('proto trap'); }, ownKeys() { throw new Error('keys trap'); } });`,
    502,
    'Error: proto trap',
  ],
  ['a proxy whose get trap loops', `return new Proxy({ a: 1 }, { get() { for (;;) {} } });`, 504, 'timeout'],
  [
    'a proxy that passes for a plain object',
    `return new Proxy({ a: 1 }, { get: (target, key) => (key === 'a' ? 'from the trap' : undefined) });`,
    200,
    { a: 'from the trap' },
  ],
  [
    'a function',
    `return { f() { return process; } };`,
    502,
    'TypeError: the returned value.f is a function, which JSON cannot hold',
  ],
  [
    'a symbol',
    `return { s: Symbol('x') };`,
    502,
    'TypeError: the returned value.s is a symbol, which JSON cannot hold',
  ],
  ['a BigInt', `return [1n];`, 502, 'TypeError: the returned value[0] is a bigint, which JSON cannot hold'],
  [
    'a cyclic object',
    `const a = { b: {} }; a.b.a = a; return a;`,
    502,
    'TypeError: the returned value.b.a refers back to itself (a cycle)',
  ],
  [
    'a class instance',
    `class Widget { constructor() { this.x = 1; } } return new Widget();`,
    502,
    'TypeError: the returned value is a Widget, which JSON cannot hold',
  ],
  ['a Date', `return { at: new Date(Date.UTC(2020, 0, 2, 3, 4, 5)) };`, 200, { at: '2020-01-02T03:04:05.000Z' }],
  ['a Map', `return new Map([['a', 1]]);`, 502, 'TypeError: the returned value is a Map, which JSON cannot hold'],
  [
    'a promise inside an object',
    `return { later: Promise.resolve(1) };`,
    502,
    'TypeError: the returned value.later is a Promise, which JSON cannot hold',
  ],
  [
    'a toJSON that returns a function',
    `return { toJSON() { return () => process; } };`,
    502,
    'TypeError: the returned value is a function, which JSON cannot hold',
  ],
  [
    'a toJSON that returns its own object',
    `const o = { toJSON() { return o; } }; return o;`,
    502,
    'RangeError: Maximum call stack size exceeded',
  ],
  ['a toJSON that loops forever', `return { toJSON() { for (;;) {} } };`, 504, 'timeout'],
  ['an object with a null prototype', `const o = Object.create(null); o.a = 1; return o;`, 200, { a: 1 }],
  [
    'a thrown value whose toJSON and toString throw',
    `throw { toJSON() { throw new Error('a'); }, toString() { throw new Error('b'); } };`,
    502,
    'Error: threw a value that could not be read',
  ],
];
/** Small (a few kB of JSON) but deep: the host must not recurse itself into a stack overflow on them. */
const deepValues: [string, string, string][] = [
  [
    'arrays nested 3000 levels deep',
    'let v = 1; for (let i = 0; i < 3000; i++) v = [v]; return v;',
    `${'['.repeat(3000)}1${']'.repeat(3000)}`,
  ],
  [
    'objects nested 2000 levels deep',
    'let v = 1; for (let i = 0; i < 2000; i++) v = { a: v }; return v;',
    `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`,
  ],
];
const deepCases = deepValues.map(([title, code, json], i) => [title, workflow(`deepValue${i}`, code), json] as const);
const returnedCases = returnedValues.map(
  ([title, code, status, expected], i) => [title, workflow(`returned${i}`, code), status, expected] as const,
);

// ---------------------------------------------------------------------------------------------
// 6. loops and promises that never end

const loopAttempts: [string, string | StepDef[], Record<string, unknown>?][] = [
  ['an infinite loop', 'while (true) {}'],
  ['an await loop (for (;;) await null)', 'for (;;) await null;'],
  [
    'a microtask loop that keeps no promise, with a promise that never settles',
    'const f = () => { Promise.resolve().then(f); }; f(); await new Promise(() => {});',
  ],
  ['a promise that never settles', 'await new Promise(() => {});'],
  ['compute after a bridge call', `await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); while (true) {}`],
  [
    'Atomics.wait on a SharedArrayBuffer nobody notifies',
    'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); return 1;',
  ],
  [
    "a workflow that raises its own stepTimeoutMs past the agent's",
    'while (true) {}',
    { limits: { stepTimeoutMs: 600000, runTimeoutMs: 600000 } },
  ],
];
const loopCases = loopAttempts.map(
  ([title, code, extra], i) => [title, workflow(`loop${i}`, code, extra ?? {})] as const,
);

/** Each turn resolves the previous promise with a new one, so the chain grows until the time or the memory limit ends it. */
const promiseChainLoop = workflow(
  'promiseChainLoop',
  'const f = () => Promise.resolve().then(f); f(); await new Promise(() => {});',
);

const loopInSecondStep = workflow('loopInSecondStep', [
  { name: 'first', code: 'return { fine: true };' },
  { name: 'second', code: 'while (true) {}' },
]);
const runDeadline = workflow('runDeadline', [
  { name: 'one', code: `${spinFor(800)} return 1;` },
  { name: 'two', code: `${spinFor(800)} return 2;` },
  { name: 'three', code: `${spinFor(800)} return 3;` },
]);

// ---------------------------------------------------------------------------------------------
// 7. memory bombs

const memoryAttempts: [string, string, string | RegExp][] = [
  // On a loaded machine the 1 s step limit may end it before the heap reaches its limit: both stop it.
  [
    'a growing heap of arrays',
    'const hoard = []; while (true) hoard.push(new Array(1 << 20).fill("row " + hoard.length));',
    'memory or time',
  ],
  // Flattening one 256 MB string took 0.76 s on one of our machines, and isolated-vm notices the heap
  // is over its limit only at a later allocation: the memory limit or the 1 s step limit ends it.
  [
    'kept flattened 256 MB strings',
    `const keep = []; for (let i = 0; i < 4; i++) { const s = String.fromCharCode(97 + i).repeat(2 ** 28); s.indexOf('z'); keep.push(s); } return keep.length;`,
    'memory or time',
  ],
  ['a doubling string', `let s = 'xy'; for (;;) s += s;`, 'RangeError: Invalid string length'],
  [
    'many kept 16 MB ArrayBuffers',
    'const keep = []; for (let i = 0; i < 100; i++) keep.push(new ArrayBuffer(16 * 1024 * 1024)); return keep.length;',
    'RangeError: Array buffer allocation failed',
  ],
  [
    'new ArrayBuffer(2 ** 31)',
    'return new ArrayBuffer(2 ** 31).byteLength;',
    'RangeError: Array buffer allocation failed',
  ],
  [
    'filled typed arrays',
    'const keep = []; for (let i = 0; i < 100; i++) keep.push(new Float64Array(2 * 1024 * 1024).fill(i)); return keep.length;',
    'RangeError: Array buffer allocation failed',
  ],
  [
    'kept SharedArrayBuffers',
    'const keep = []; for (let i = 0; i < 100; i++) { const s = new SharedArrayBuffer(16 * 1024 * 1024); new Uint8Array(s).fill(1); keep.push(s); } return keep.length;',
    'RangeError: Array buffer allocation failed',
  ],
];
const memoryCases = memoryAttempts.map(
  ([title, code, expected], i) => [title, workflow(`memory${i}`, code), expected] as const,
);

const wasmMemory = workflow(
  'wasmMemory',
  `if (typeof WebAssembly === 'undefined') return { refused: 'no WebAssembly' };
   const keep = [];
   try {
     for (let i = 0; i < 4; i++) { const m = new WebAssembly.Memory({ initial: 1024 }); new Uint8Array(m.buffer).fill(1); keep.push(m); }
   } catch (e) { return { refused: e.name + ': ' + e.message, allocatedMb: keep.length * 64 }; }
   return { allocatedMb: keep.length * 64 };`,
);
const arrayBomb = workflow('arrayBomb', 'const a = new Array(2 ** 30).fill(0); return a.length;');

// ---------------------------------------------------------------------------------------------
// 8. bridge floods and deadlines

const floodSequential = workflow(
  'floodSequential',
  `const out = [];
   for (let i = 0; i < 8; i++) {
     try { await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); out.push('ok'); }
     catch (e) { out.push(e.name + ': ' + e.message); }
   }
   return out;`,
);
const floodParallel = workflow(
  'floodParallel',
  `const results = await Promise.all(Array.from({ length: 100 }, () =>
     aws.secretsManager.getSecretValue({ SecretId: 'app/db' }).then(() => 'ok', (e) => e.name + ': ' + e.message)));
   const counts = {};
   for (const r of results) counts[r] = (counts[r] || 0) + 1;
   return Object.entries(counts);`,
);
const floodAcrossSteps = workflow('floodAcrossSteps', [
  {
    name: 'first',
    code: `for (let i = 0; i < 3; i++) await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); return 3;`,
  },
  {
    name: 'second',
    code: `const out = [];
           for (let i = 0; i < 3; i++) { try { await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); out.push('ok'); } catch (e) { out.push(e.name); } }
           return out;`,
  },
]);
const floodUnawaited = workflow(
  'floodUnawaited',
  `for (let i = 0; i < 100000; i++) aws.secretsManager.getSecretValue({ SecretId: 'app/db' }).catch(() => {}); return 'fired';`,
);
const floodUntilDeadline = workflow(
  'floodUntilDeadline',
  `let fired = 0;
   const until = Date.now() + 950;
   while (Date.now() < until) { aws.secretsManager.getSecretValue({ SecretId: 'app/db' }).catch(() => {}); fired++; }
   return fired;`,
);
const floodBigArguments = workflow(
  'floodBigArguments',
  `const big = 'x'.repeat(1 << 20);
   let fired = 0;
   const until = Date.now() + 900;
   while (Date.now() < until) { aws.secretsManager.getSecretValue({ SecretId: big }).catch(() => {}); fired++; }
   return fired;`,
);
const raisedBudget = workflow(
  'raisedBudget',
  `const results = await Promise.all(Array.from({ length: 20 }, () => aws.secretsManager.getSecretValue({ SecretId: 'app/db' }).then(() => 'ok', (e) => e.name)));
   return results.filter((r) => r === 'ok').length;`,
  { limits: { maxBridgeCalls: 1000 } },
);
const zeroBudget = workflow(
  'zeroBudget',
  `try { await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); return 'read'; } catch (e) { return e.name + ': ' + e.message; }`,
  { limits: { maxBridgeCalls: 0 } },
);
const callAfterDeadline = workflow(
  'callAfterDeadline',
  `${spinFor(3000)} await aws.secretsManager.getSecretValue({ SecretId: 'app/db' }); return 'called';`,
);
const callsPendingAtDeadline = workflow(
  'callsPendingAtDeadline',
  `await aws.secretsManager.getSecretValue({ SecretId: 'app/db' });
   for (let i = 0; i < 4; i++) await aws.secretsManager.getSecretValue({ SecretId: 'app/db' });
   return 'all answered';`,
);

// ---------------------------------------------------------------------------------------------
// 9. allowedSecrets

const readEach = `
  const out = [];
  for (const id of params.ids) {
    try { const r = await aws.secretsManager.getSecretValue({ SecretId: id }); out.push([id, 'read ' + r.Name]); }
    catch (e) { out.push([id, e.name]); }
  }
  return out;`;
const allowApp = workflow('allowApp', readEach, { allowedSecrets: ['app/*'] });
const allowNone = workflow('allowNone', readEach, { allowedSecrets: [] });
const allowExact = workflow('allowExact', readEach, { allowedSecrets: ['app/db'] });

// ---------------------------------------------------------------------------------------------
// 10. prototype pollution aimed at the host

/** [title, step code, the response as JSON text] */
const pollutionAttempts: [string, string, string][] = [
  [
    'a JSON.parse "__proto__" key',
    `return JSON.parse('{"__proto__":{"polluted":true},"a":1}');`,
    '{"__proto__":{"polluted":true},"a":1}',
  ],
  [
    'a constructor.prototype chain',
    `return { constructor: { prototype: { polluted: true } } };`,
    '{"constructor":{"prototype":{"polluted":true}}}',
  ],
  [
    'a nested "__proto__" key in an array',
    `return [JSON.parse('{"__proto__":{"polluted":"yes"}}')];`,
    '[{"__proto__":{"polluted":"yes"}}]',
  ],
];
const pollutionCases = pollutionAttempts.map(
  ([title, code, expected], i) => [title, workflow(`pollute${i}`, code), expected] as const,
);
const pollutionThroughOutputs = workflow('pollutionThroughOutputs', [
  { name: 'first', code: `return JSON.parse('{"__proto__":{"polluted":true}}');` },
  { name: 'second', code: `return [typeof ({}).polluted, typeof first.output.polluted, Object.keys(first.output)];` },
]);
const pollutionParams = workflow(
  'pollutionParams',
  `return { keys: Object.keys(params).sort(), polluted: typeof ({}).polluted, viaParams: typeof params.polluted, inherited: Object.getPrototypeOf(params) === Object.prototype };`,
);
const lookForPollution = workflow(
  'lookForPollution',
  `return [typeof ({}).polluted, typeof Object.prototype.polluted, typeof [].polluted];`,
);

// ---------------------------------------------------------------------------------------------
// 11. state left behind for later runs and steps

const tamper = `
  globalThis.leak = 'left behind';
  Object.prototype.polluted = true;
  Array.prototype.push = function () { return -1; };
  JSON.stringify = () => '{"ok":true,"value":"forged"}';
  const then = Promise.prototype.then;
  Promise.prototype.then = function (...args) { globalThis.hijacked = true; return then.apply(this, args); };
  return 1;`;
const inspect = `
  const native = (f) => /\\[native code\\]/.test(Function.prototype.toString.call(f));
  return { leak: typeof globalThis.leak, polluted: typeof ({}).polluted, push: native(Array.prototype.push),
           stringify: native(JSON.stringify), then: native(Promise.prototype.then) };`;
const clean = { leak: 'undefined', polluted: 'undefined', push: true, stringify: true, then: true };
const tamperRun = workflow('tamperRun', tamper);
const inspectRun = workflow('inspectRun', inspect);
const tamperThenInspect = workflow('tamperThenInspect', [
  { name: 'tamper', code: tamper.replace('return 1;', 'return { marker: 42 };') },
  { name: 'inspect', code: inspect.replace('return {', 'return { marker: tamper.output.marker,') },
]);

// ---------------------------------------------------------------------------------------------
// 12. oversized responses and logs

const sizeAttempts: [string, string, number | null][] = [
  ['70000 ASCII characters', `return 'x'.repeat(70000);`, 70002],
  [
    '33000 two-byte characters (66002 bytes of UTF-8, fewer than 65536 UTF-16 units)',
    `return 'é'.repeat(33000);`,
    66002,
  ],
  ['22000 three-byte characters', `return '€'.repeat(22000);`, 66002],
  ['16500 emoji (four bytes each)', `return '😀'.repeat(16500);`, 66002],
  ['32000 two-byte characters (just under the limit)', `return 'é'.repeat(32000);`, null],
];
const sizeCases = sizeAttempts.map(([title, code, bytes], i) => [title, workflow(`size${i}`, code), bytes] as const);
const tooManyLogLines = workflow(
  'tooManyLogLines',
  `for (let i = 0; i < 200; i++) console.log('line ' + i); return 'logged';`,
);
const longLogLine = workflow(
  'longLogLine',
  `console.warn('y'.repeat(5000)); console.log('z'.repeat(1024)); return 'logged';`,
);
const logFlood = workflow('logFlood', `for (;;) console.log('x'.repeat(100000));`);

// ---------------------------------------------------------------------------------------------
// 13. crashing a sandbox worker

const killMe = workflow('killMe', `${spinFor(900)} return 'survived';`);
// Short enough to finish well within the step limit when it is run again.
const killMeOnce = workflow('killMeOnce', `${spinFor(600)} return 'survived';`);
// Well within the 1 s step limit on a busy machine, and still running when the agent's timer fires (below).
const slowBystander = workflow('slowBystander', `${spinFor(700)} return { bystander: true };`);
const slowInnocent = workflow('slowInnocent', `${spinFor(700)} return { innocent: true };`);
const longUnknownKey = workflow(
  'longUnknownKey',
  `try { await aws.secretsManager.getSecretValue({ SecretId: 'app/db', ['k'.repeat(20000)]: 1 }); return { name: 'no error' }; }
   catch (e) { return { name: e.name }; }`,
);
const manyUnknownKeys = workflow(
  'manyUnknownKeys',
  `const request = { SecretId: 'app/db' };
   for (let i = 0; i < 2000; i++) request['unknown_key_' + i] = i;
   try { await aws.secretsManager.getSecretValue(request); return { name: 'no error' }; } catch (e) { return { name: e.name }; }`,
);
const crashingDescribe: [string, string][] = [
  [
    'replacing String so the error report itself throws a long error',
    `String = () => { throw new Error('x'.repeat(30000)); }; throw new Error('first');`,
  ],
  [
    'an Object.prototype.toJSON that throws a long error',
    `Object.prototype.toJSON = function () { throw new Error('y'.repeat(30000)); }; throw new Error('first');`,
  ],
];
const crashingDescribeCases = crashingDescribe.map(
  ([title, code], i) => [title, workflow(`longFailure${i}`, code)] as const,
);
const envKeys = workflow('envKeys', `return Object.keys(Env).sort();`);
// The log line was built with Array.prototype.map and join, and String: replaced, they made it a number.
const nonTextLog = workflow(
  'nonTextLog',
  `Array.prototype.join = function () { return 42; };
   String = function () { return 7; };
   console.log('a', 'b');
   console.log(undefined);
   return 'logged';`,
);

// ---------------------------------------------------------------------------------------------
// 14. isolated-vm References

const referenceWalk = workflow(
  'referenceWalk',
  `const seen = new Set();
   const queue = [globalThis];
   const suspicious = ['applySync', 'applySyncPromise', 'applyIgnored', 'derefInto', 'copySync', 'copyInto', 'setSync', 'getSync', 'evalClosureSync', 'compileScriptSync', 'createContextSync'];
   const found = [];
   while (queue.length > 0) {
     const o = queue.shift();
     if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
     seen.add(o);
     let keys = [];
     try { keys = Reflect.ownKeys(o); } catch (e) { continue; }
     for (const k of keys) {
       if (typeof k === 'string' && (suspicious.includes(k) || k.startsWith('__cf_'))) found.push(k);
       let d;
       try { d = Reflect.getOwnPropertyDescriptor(o, k); } catch (e) { continue; }
       if (!d) continue;
       if ('value' in d) queue.push(d.value);
       if (d.get) queue.push(d.get);
       if (d.set) queue.push(d.set);
     }
     try { queue.push(Reflect.getPrototypeOf(o)); } catch (e) {}
   }
   const ivmNames = ['Reference', 'ExternalCopy', 'Isolate', 'Context', 'Callback', 'Script', 'NativeModule'];
   const named = [...seen].filter((o) => typeof o === 'function' && ivmNames.includes(o.name)).map((o) => o.name);
   return { visited: seen.size, found, named };`,
);
const referenceGlobals = workflow(
  'referenceGlobals',
  `return {
     cf: Object.getOwnPropertyNames(globalThis).filter((n) => n.toLowerCase().includes('cf_') || n.includes('ivm')),
     types: [typeof ivm, typeof _ivm, typeof __cf_bridge, typeof __cf_log, typeof __cf_input, typeof bridge, typeof log, typeof input, typeof call],
     consoleProps: Object.getOwnPropertyNames(console.log).sort(),
     bridgeProps: Object.getOwnPropertyNames(aws.secretsManager.getSecretValue).sort(),
     sources: [console.log.toString(), aws.secretsManager.getSecretValue.toString()],
   };`,
);
/** Getters on Object.prototype for isolated-vm's option names, and for what an isolated-vm object it returned would be read through. */
const poisonedOptions = workflow(
  'poisonedOptions',
  `const names = ['reference', 'copy', 'externalCopy', 'promise', 'timeout', 'arguments', 'result', 'release', 'accessors', 'transferIn', 'transferOut'];
   const read = [];
   const captured = [];
   const looksIvm = (o) => { try { return o !== null && typeof o === 'object' && ['deref', 'derefInto', 'copySync', 'applySync'].some((m) => typeof o[m] === 'function'); } catch (e) { return false; } };
   for (const name of names) {
     Object.defineProperty(Object.prototype, name, { configurable: true, get() { read.push(name); return name === 'reference' ? true : (name === 'arguments' || name === 'result') ? {} : undefined; } });
   }
   for (const key of ['then', Symbol.toPrimitive, 'toJSON']) {
     Object.defineProperty(Object.prototype, key, { configurable: true, get() { if (looksIvm(this)) captured.push(String(key)); return undefined; } });
   }
   let length;
   try { length = JSON.parse((await aws.secretsManager.getSecretValue({ SecretId: 'app/db' })).SecretString).password.length; } catch (e) { length = e.name; }
   console.log('still logs');
   for (const name of [...names, 'then', Symbol.toPrimitive, 'toJSON']) delete Object.prototype[name];
   return { read: [...new Set(read)], captured, length };`,
);
const callerWalk = workflow(
  'callerWalk',
  `const seen = [];
   console.log({ toJSON: function () { seen.push(String(arguments.callee.caller)); return 1; } });
   console.log({ toJSON: function () { throw new Error('no JSON'); }, toString: function () { seen.push(String(arguments.callee.caller)); return 'x'; } });
   const out = {};
   Object.defineProperty(out, 'probe', { enumerable: true, get: function () { seen.push(String(arguments.callee.caller)); return seen; } });
   return out;`,
);

// ---------------------------------------------------------------------------------------------

describe('sandbox escape attempts against the real agent and its sandbox workers', () => {
  let appArn = '';
  let otherArn = '';

  beforeAll(async () => {
    Object.assign(process.env, CANARY);
    t = await startTestAgent(
      { workflows },
      {
        CREDFLOW_SANDBOX_MEMORY_MB: String(limits.memoryMb),
        CREDFLOW_STEP_TIMEOUT_MS: String(limits.stepTimeoutMs),
        CREDFLOW_RUN_TIMEOUT_MS: String(limits.runTimeoutMs),
        CREDFLOW_MAX_RESPONSE_BYTES: String(limits.maxResponseBytes),
        CREDFLOW_SANDBOX_MAX_BRIDGE_CALLS: String(limits.maxBridgeCalls),
        CREDFLOW_SANDBOX_MAX_LOG_LINES: String(limits.maxLogLines),
        CREDFLOW_SANDBOX_MAX_LOG_BYTES: String(limits.maxLogBytes),
        CREDFLOW_SANDBOX_WORKERS: String(WORKERS),
        CREDFLOW_SANDBOX_PREWARM: '1',
        CREDFLOW_AGENT_APP_ENV_REGION_HINT: 'eu-west-1',
      },
    );
    appArn = t.secrets.createSecret('app/db', { SecretString: APP_SECRET }).ARN;
    otherArn = t.secrets.createSecret('other/secret', { SecretString: OTHER_VALUE }).ARN;
    await workerPids();
    rssAtStart = process.memoryUsage().rss;
  });

  afterAll(async () => {
    for (const name of Object.keys(CANARY)) delete process.env[name];
    await t?.close();
  });

  it('runs the known-good workflow, which fetches the seeded secret, before any attempt', async () => {
    await expectAgentHealthy();
  });

  describe('1. reaching process, require or host objects through constructor chains', () => {
    it.each(constructorCases)('finds no host object through %s', async (_title, name, expected) => {
      const pids = await workerPids();
      const res = await run(name);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual(expected);
      await expectAgentHealthy(pids);
    });
  });

  describe('2. stack-trace hooks', () => {
    it('shows Error.prepareStackTrace only sandbox call sites, with no receiver or function of the bootstrap, for errors of bridge calls', async () => {
      const pids = await workerPids();
      const res = await run(callSitesOnBridgeError);
      expect(res.status, res.text).toBe(200);
      const { stacks, frames } = res.body.response as {
        stacks: string;
        frames: { file: string; fn: string; self: string; func: string; eval: string }[];
      };
      expect(stacks).toBe('hookedhookedhooked');
      expect(frames.length).toBeGreaterThan(0);
      for (const frame of frames) expect(['credflow-step.js', 'undefined']).toContain(frame.file);
      for (const frame of frames.filter((f) => f.file === 'credflow-step.js'))
        expect(frame).toMatchObject({ self: 'undefined', func: 'undefined' });
      expect(hostLeaks(res.text)).toEqual([]);
      await expectAgentHealthy(pids);
    });

    it('shows Error.prepareStackTrace and Error.captureStackTrace no bootstrap function or receiver from inside console.log, toJSON or a getter', async () => {
      const pids = await workerPids();
      const res = await run(callSitesInsideBootstrap);
      expect(res.status, res.text).toBe(200);
      const frames = res.body.response.probe as { file: string; fn: string; self: string; func: string }[];
      const bootstrapFrames = frames.filter((f) => f.file === 'credflow-step.js');
      expect(bootstrapFrames.length).toBeGreaterThan(3);
      for (const frame of bootstrapFrames) expect(frame).toMatchObject({ self: 'undefined', func: 'undefined' });
      // The step's own functions (file "undefined": code made by the Function constructor) and built-ins (file null) are all the rest.
      for (const frame of frames) expect(['credflow-step.js', 'undefined', 'null']).toContain(frame.file);
      expect(
        frames
          .filter((f) => f.func === 'function')
          .map((f) => f.fn)
          .sort(),
      ).toEqual(['get', 'toJSON', 'toString']);
      expect(hostLeaks(res.text)).toEqual([]);
      await expectAgentHealthy(pids);
    });

    it('puts no host path or host frame in stack strings, in the response or in the step logs', async () => {
      const pids = await workerPids();
      const res = await run(stackStrings);
      expect(res.status, res.text).toBe(200);
      const texts = res.body.response as string[];
      expect(texts).toHaveLength(4);
      expect(texts[0]).toMatch(/^ResourceNotFoundException: /);
      for (const text of [...texts, ...res.body.steps[0].logs]) expect(foreignFrames(text)).toEqual([]);
      expect(hostLeaks(res.text)).toEqual([]);
      await expectAgentHealthy(pids);
    });

    it('keeps host paths out of the HTTP error body when a step throws what a stack hook collected', async () => {
      const pids = await workerPids();
      const res = await run(hookedThrow);
      expectFailure(
        res,
        502,
        'WORKFLOW_FAILED',
        /^workflow "hookedThrow" failed in step "attempt": Error: frames credflow-step\.js:call:\d+ < /,
      );
      await expectAgentHealthy(pids);
    });
  });

  describe('3. import(), require and eval', () => {
    it.each(moduleCases)('loads no host module through %s', async (_title, name, status, expected) => {
      const pids = await workerPids();
      const res = await run(name);
      if (status === 200) {
        expect(res.status, res.text).toBe(200);
        expect(res.body.response).toEqual(expected);
      } else {
        expectFailure(res, 502, 'WORKFLOW_FAILED', expected as string | RegExp);
      }
      await expectAgentHealthy(pids);
    });
  });

  describe('4. host paths and frames through bridge errors', () => {
    it.each(bridgeErrorWorkflows)(
      'answers %s with errors that name the problem and carry no host path or frame',
      async (_title, name, names) => {
        const pids = await workerPids();
        const before = t.secrets.countRequests('GetSecretValue');
        const res = await run(name);
        expect(res.status, res.text).toBe(200);
        const errors = res.body.response as { name: string; message: string; stack: string }[];
        expect(errors.map((e) => e.name)).toEqual(names);
        for (const error of errors) {
          expect(error.message.length).toBeLessThan(500);
          expect(error.stack.startsWith(`${error.name}: ${error.message}`)).toBe(true);
          expect(foreignFrames(error.stack)).toEqual([]);
          expect(hostLeaks(`${error.message}\n${error.stack}`)).toEqual([]);
        }
        // Only well-formed requests reach the endpoint.
        expect(t.secrets.countRequests('GetSecretValue') - before).toBe(
          names.filter((n) => n === 'ResourceNotFoundException').length,
        );
        await expectAgentHealthy(pids);
      },
    );

    it.each([
      ['drops the connection', { down: true }, { name: 'ECONNRESET', message: 'socket hang up' }, false],
      [
        'answers with server errors',
        { serverError: Infinity },
        { name: 'InternalServiceError', message: 'An error occurred on the server side.' },
        false,
      ],
      // The SDK backs off and retries throttled calls, which may take the step past its time limit.
      [
        'throttles every request',
        { throttle: Infinity },
        { name: 'ThrottlingException', message: 'Rate exceeded' },
        true,
      ],
    ] as const)(
      'gives the step a plain error without host details when the secret store %s',
      async (_title, faults, expected, mayTimeOut) => {
        const pids = await workerPids();
        t.secrets.setFaults({ ...faults, operations: ['GetSecretValue'] });
        let res: RunResult;
        try {
          res = await run(storeFailure);
        } finally {
          t.secrets.clearFaults();
        }
        if (mayTimeOut && res.status === 504) {
          expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(storeFailure));
        } else {
          expect(res.status, res.text).toBe(200);
          const [error] = res.body.response as { name: string; message: string; stack: string }[];
          expect(error).toMatchObject(expected);
          expect(foreignFrames(error?.stack ?? '')).toEqual([]);
        }
        expect(hostLeaks(res.text)).toEqual([]);
        expect(res.text).not.toContain('127.0.0.1');
        await expectAgentHealthy(pids);
      },
    );

    it('answers an uncaught bridge error with a 502 whose body names the error but no host path', async () => {
      const pids = await workerPids();
      const res = await run(uncaughtBridgeError);
      expectFailure(
        res,
        502,
        'WORKFLOW_FAILED',
        /^workflow "uncaughtBridgeError" failed in step "attempt": InvalidParameterException: getSecretValue: /,
      );
      expect(res.body.error.message).not.toContain('x'.repeat(100));
      expect(res.text).not.toMatch(/\n\s+at /);
      await expectAgentHealthy(pids);
    });
  });

  describe('5. getters, proxies and other values that are not JSON', () => {
    it.each(returnedCases)('answers a returned value holding %s cleanly', async (_title, name, status, expected) => {
      const pids = await workerPids();
      const res = await run(name);
      if (status === 200) {
        expect(res.status, res.text).toBe(200);
        expect(res.body.response).toEqual(expected);
      } else if (status === 504) {
        expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(name));
      } else {
        expectFailure(res, 502, 'WORKFLOW_FAILED', stepFailed(name, expected as string));
      }
      await expectAgentHealthy(pids);
    });
  });

  describe('5b. deeply nested values', () => {
    it.each(deepCases)(
      'answers a returned value of %s with the value or a clear WORKFLOW_FAILED, never an internal error',
      async (_title, name, json) => {
        const pids = await workerPids();
        const res = await run(name);
        expect([200, 502], res.text).toContain(res.status);
        if (res.status === 200) expect(JSON.stringify(res.body.response)).toBe(json);
        else
          expectFailure(
            res,
            502,
            'WORKFLOW_FAILED',
            new RegExp(`^workflow "${name}" (failed in step "attempt": .+|could not run in the sandbox)$`),
          );
        await expectAgentHealthy(pids);
      },
    );
  });

  describe('6. code that never ends', () => {
    it.each(loopCases)('ends %s with WORKFLOW_TIMEOUT within a few seconds', async (_title, name) => {
      const pids = await workerPids();
      const res = await run(name);
      expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(name));
      // A failed preview carries the steps that ran (masked): here the one that timed out.
      expect(res.body.error.details).toEqual({
        workflow: name,
        step: 'attempt',
        steps: [expect.objectContaining({ name: 'attempt' })],
      });
      await expectAgentHealthy(pids);
    });

    it('ends a microtask loop that chains promises (f = () => Promise.resolve().then(f)) at the time or the memory limit', async () => {
      const pids = await workerPids();
      const res = await run(promiseChainLoop);
      expect([502, 504]).toContain(res.status);
      if (res.status === 504) expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(promiseChainLoop));
      else expectFailure(res, 502, 'WORKFLOW_FAILED', memoryLimit(promiseChainLoop));
      await expectAgentHealthy(pids);
    });

    it('ends a loop in a second step, after the first one finished', async () => {
      const pids = await workerPids();
      const res = await run(loopInSecondStep);
      expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(loopInSecondStep, 'second'));
      await expectAgentHealthy(pids);
    });

    it("ends a run whose steps each stay under the step limit but together pass the run's limit", async () => {
      const pids = await workerPids();
      const res = await run(runDeadline);
      expectFailure(
        res,
        504,
        'WORKFLOW_TIMEOUT',
        `workflow "runDeadline" failed in step "three": the run exceeded its time limit of ${limits.runTimeoutMs} ms`,
      );
      expect(res.ms).toBeGreaterThanOrEqual(limits.runTimeoutMs - 100);
      await expectAgentHealthy(pids);
    });
  });

  describe('7. memory bombs', () => {
    it.each(memoryCases)(
      'fails %s with a clear error while the agent and the worker stay up',
      async (_title, name, expected) => {
        const pids = await workerPids();
        const stopsBefore = workerExitLines(t).filter((l) => residentMemoryStop.test(l.reason ?? '')).length;
        const memoryStopsBefore = await memoryStops();
        const res = await run(name);
        // Strings of 256 MB are not all counted against the isolate's limit at once: their worker may
        // pass its resident memory bound first, and the agent stops it (and the fresh worker it is sent to).
        const stopped = workerExitLines(t).filter((l) => residentMemoryStop.test(l.reason ?? '')).length > stopsBefore;
        // A bomb that stalls its worker reaches a time limit: the step's, or the run's when the
        // step started late (its isolate prepared on a busy worker), whichever comes first.
        if (expected === 'memory or time' && res.status === 504)
          expectFailure(
            res,
            504,
            'WORKFLOW_TIMEOUT',
            new RegExp(
              `^workflow "${name}" failed in step "attempt": the (step exceeded its time limit of ${limits.stepTimeoutMs}|run exceeded its time limit of ${limits.runTimeoutMs}) ms$`,
            ),
          );
        else if (expected === 'memory or time' && stopped && res.body.error?.details?.reason === 'memory') {
          expectFailure(
            res,
            502,
            'WORKFLOW_FAILED',
            new RegExp(
              `^workflow "${name}" was abandoned: the agent stopped its sandbox worker because ${residentMemoryStop.source}$`,
            ),
          );
        } else
          expectFailure(
            res,
            502,
            'WORKFLOW_FAILED',
            typeof expected === 'string' && expected.startsWith('memory')
              ? memoryLimit(name)
              : stepFailed(name, expected as string),
          );
        await expectAgentHealthy();
        // The watchdog samples a worker's resident memory every 250 ms: memory the bomb held outside
        // the isolate (ArrayBuffer backing stores) can get its worker stopped just after the run
        // failed. Only a worker stopped for its memory may be gone. The pids are read first: a
        // replacement starts only after the stop was decided and counted (its exit line comes
        // later, once the process has ended).
        const pidsNow = await workerPids();
        if ((await memoryStops()) === memoryStopsBefore) expect(pidsNow, 'a sandbox worker was lost').toEqual(pids);
        expect(process.memoryUsage().rss - rssAtStart).toBeLessThan(256 * 1024 * 1024);
      },
    );

    it('holds WebAssembly.Memory to the sandbox memory limit', async () => {
      const pids = await workerPids();
      const res = await run(wasmMemory);
      // Safe: no WebAssembly, a refused allocation, or the run stopped at the memory limit; never 256 MB granted to a 32 MB sandbox.
      if (res.status === 200) {
        expect(
          res.body.response.refused,
          `allocated ${res.body.response.allocatedMb} MB in a ${limits.memoryMb} MB sandbox`,
        ).toEqual(expect.any(String));
        expect(res.body.response.allocatedMb ?? 0).toBeLessThanOrEqual(limits.memoryMb);
      } else {
        expectFailure(res, 502, 'WORKFLOW_FAILED', memoryLimit(wasmMemory));
      }
      await expectAgentHealthy(pids);
    });

    it('fails an array bomb that makes V8 give up, and the agent stops the worker it grew, even after the run ended at its time limit', async () => {
      const pending = run(arrayBomb);
      let pid: number | undefined;
      await until(
        () => (pid = t.agent.parts.sandbox.status().find((w) => w.workflows.includes(arrayBomb))?.pid) !== undefined,
        'a worker took the array bomb',
      );
      const res = await pending;
      // On Node 24 it grows its worker for many seconds: the step or the run may end at its time limit
      // first (sent again, it has only what is left of its time), or the agent stops the worker over
      // its resident memory bound, or V8 aborts the worker (it is sent once to a fresh worker).
      if (res.status === 504)
        expectFailure(
          res,
          504,
          'WORKFLOW_TIMEOUT',
          /^workflow "arrayBomb" failed in step "attempt": the (step|run) exceeded its time limit of \d+ ms$/,
        );
      else {
        expectFailure(
          res,
          502,
          'WORKFLOW_FAILED',
          new RegExp(
            `^workflow "arrayBomb" (failed in step "attempt": the step exceeded the memory limit of 32 MB|was abandoned: its sandbox worker stopped unexpectedly \\(signal SIG(ABRT|TRAP)\\); the next run gets a new worker|was abandoned: the agent stopped its sandbox worker because ${residentMemoryStop.source})$`,
          ),
        );
      }
      // The worker it grew does not keep that memory: the agent stops it (or V8 aborts it) even when
      // the run is already over. Only when isolated-vm itself ended the step at the isolate's limit
      // did the worker never grow, and it may go on serving.
      const caughtByIsolate = res.status === 502 && /the step exceeded the memory limit/.test(res.body.error.message);
      if (!caughtByIsolate) {
        await until(
          () => workerExitLines(t).some((l) => l.pid === pid),
          `the worker ${pid} that ran the array bomb was stopped`,
          60,
        );
        const exit = workerExitLines(t).find((l) => l.pid === pid);
        expect(
          residentMemoryStop.test(exit?.reason ?? '') || /^signal SIG(ABRT|TRAP)$/.test(exit?.how ?? ''),
          JSON.stringify(exit),
        ).toBe(true);
      }
      await expectAgentHealthy();
      expect(await workerPids()).toHaveLength(WORKERS);
      expect(process.memoryUsage().rss - rssAtStart).toBeLessThan(256 * 1024 * 1024);
    });
  });

  describe('8. bridge floods and deadlines', () => {
    const budgetError = `LimitExceededException: a run may make at most ${limits.maxBridgeCalls} bridge calls`;

    it('refuses sequential calls past maxBridgeCalls with LimitExceededException, and the endpoint sees only the budget', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(floodSequential);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual([
        ...Array.from({ length: 5 }, () => 'ok'),
        budgetError,
        budgetError,
        budgetError,
      ]);
      expect(t.secrets.countRequests('GetSecretValue') - before).toBe(limits.maxBridgeCalls);
      await expectAgentHealthy(pids);
    });

    it('refuses 95 of 100 calls made at once with Promise.all, and the endpoint sees 5', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(floodParallel);
      expect(res.status, res.text).toBe(200);
      expect(Object.fromEntries(res.body.response as [string, number][])).toEqual({ ok: 5, [budgetError]: 95 });
      expect(t.secrets.countRequests('GetSecretValue') - before).toBe(limits.maxBridgeCalls);
      await expectAgentHealthy(pids);
    });

    it('counts the budget per run, across steps', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(floodAcrossSteps);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual(['ok', 'ok', 'LimitExceededException']);
      expect(t.secrets.countRequests('GetSecretValue') - before).toBe(5);
      await expectAgentHealthy(pids);
    });

    it('performs at most the budget of 100000 calls fired without awaiting them', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(floodUnawaited);
      if (res.status === 200) expect(res.body.response).toBe('fired');
      else expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(floodUnawaited));
      await sleep(300);
      expect(t.secrets.countRequests('GetSecretValue') - before).toBeLessThanOrEqual(limits.maxBridgeCalls);
      await expectAgentHealthy(pids);
    });

    it('holds a step that fires unawaited calls until just before its deadline to its time limit', async () => {
      const pids = await workerPids();
      const res = await run(floodUntilDeadline);
      if (res.status === 200) {
        expect(
          res.body.steps[0].durationMs,
          'the step ran past its time limit and still succeeded',
        ).toBeLessThanOrEqual(limits.stepTimeoutMs);
      } else {
        expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(floodUntilDeadline));
      }
      await expectAgentHealthy(pids);
    });

    it('contains a flood of unawaited calls with 1 MB arguments: the memory limit or the budget ends it, and nothing reaches the endpoint', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(floodBigArguments);
      if (res.status === 200) expect(res.body.response).toBeGreaterThan(0);
      else expectFailure(res, 502, 'WORKFLOW_FAILED', memoryLimit(floodBigArguments));
      await sleep(200);
      expect(t.secrets.countRequests('GetSecretValue')).toBe(before);
      await expectAgentHealthy(pids);
      expect(process.memoryUsage().rss - rssAtStart).toBeLessThan(256 * 1024 * 1024);
    });

    it("does not let a workflow raise maxBridgeCalls past the agent's", async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(raisedBudget);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toBe(limits.maxBridgeCalls);
      expect(t.secrets.countRequests('GetSecretValue') - before).toBe(limits.maxBridgeCalls);
      await expectAgentHealthy(pids);
    });

    it('refuses every call of a workflow whose maxBridgeCalls is 0 before it reaches the endpoint', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(zeroBudget);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toBe('LimitExceededException: a run may make at most 0 bridge calls');
      expect(t.secrets.countRequests('GetSecretValue')).toBe(before);
      await expectAgentHealthy(pids);
    });

    it('never performs a call the step would make after its deadline', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      const res = await run(callAfterDeadline);
      expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(callAfterDeadline));
      await sleep(2500);
      expect(t.secrets.countRequests('GetSecretValue')).toBe(before);
      await expectAgentHealthy(pids);
    });

    it('ends a step waiting on a slow call at its deadline, performs none of its later calls, and survives the late answer', async () => {
      const pids = await workerPids();
      const before = t.secrets.countRequests('GetSecretValue');
      t.secrets.setFaults({ latencyMs: 1500, operations: ['GetSecretValue'] });
      let res: RunResult;
      try {
        res = await run(callsPendingAtDeadline);
        expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(callsPendingAtDeadline));
        // The slow answer arrives for a run that is over.
        await sleep(1500);
      } finally {
        t.secrets.clearFaults();
      }
      expect(t.secrets.countRequests('GetSecretValue') - before).toBe(1);
      await expectAgentHealthy(pids);
    });
  });

  describe('9. allowedSecrets', () => {
    const outcome = (res: RunResult) => Object.fromEntries(res.body.response as [string, string][]);

    it('lets a workflow allowed "app/*" read app/db by name and by ARN', async () => {
      const pids = await workerPids();
      const res = await run(allowApp, { params: { ids: ['app/db', appArn] } });
      expect(res.status, res.text).toBe(200);
      expect(outcome(res)).toEqual({ 'app/db': 'read app/db', [appArn]: 'read app/db' });
      await expectAgentHealthy(pids);
    });

    it('refuses other/secret to a workflow allowed "app/*", by name, full ARN, partial ARN and look-alikes, without calling the endpoint', async () => {
      const pids = await workerPids();
      const before = t.secrets.requests.length;
      const partialArn = otherArn.replace(/-[A-Za-z0-9]{6}$/, '');
      const res = await run(allowApp, {
        params: { ids: ['other/secret', otherArn, partialArn, 'APP/db', ' other/secret'] },
      });
      expect(res.status, res.text).toBe(200);
      expect(Object.values(outcome(res))).toEqual(Array.from({ length: 5 }, () => 'AccessDeniedException'));
      expect(t.secrets.requests.slice(before)).toEqual([]);
      expect(res.text).not.toContain(OTHER_VALUE);
      await expectAgentHealthy(pids);
    });

    it('never reads other/secret through "app/" names that the store does not resolve to it', async () => {
      const pids = await workerPids();
      const before = t.secrets.requests.length;
      const res = await run(allowApp, {
        params: {
          ids: [
            'app/../other/secret',
            'app/*',
            'app/db\nother/secret',
            `${otherArn.replace('other/secret', 'app/x')}:other/secret`,
          ],
        },
      });
      expect(res.status, res.text).toBe(200);
      for (const result of Object.values(outcome(res)))
        expect(result).toMatch(/^(ResourceNotFoundException|AccessDeniedException|InvalidParameterException)$/);
      expect(t.secrets.requests.slice(before).filter((r) => r.status === 200)).toEqual([]);
      expect(res.text).not.toContain(OTHER_VALUE);
      await expectAgentHealthy(pids);
    });

    it('refuses everything to a workflow with an empty allowedSecrets list, and an exact pattern allows only that name', async () => {
      const pids = await workerPids();
      const none = await run(allowNone, { params: { ids: ['app/db', appArn] } });
      expect(Object.values(outcome(none))).toEqual(['AccessDeniedException', 'AccessDeniedException']);
      const exact = await run(allowExact, { params: { ids: ['app/db', 'app/db2', 'other/secret'] } });
      expect(Object.values(outcome(exact))).toEqual(['read app/db', 'AccessDeniedException', 'AccessDeniedException']);
      await expectAgentHealthy(pids);
    });
  });

  describe('10. prototype pollution aimed at the host', () => {
    const expectNoPollution = () => {
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
    };

    it.each(pollutionCases)('returns %s as plain data and pollutes nothing', async (_title, name, expected) => {
      const pids = await workerPids();
      const res = await run(name);
      expect(res.status, res.text).toBe(200);
      expect(JSON.stringify(res.body.response)).toBe(expected);
      expect(res.text).toContain(expected);
      expectNoPollution();
      const later = await run(lookForPollution);
      expect(later.body.response).toEqual(['undefined', 'undefined', 'undefined']);
      await expectAgentHealthy(pids);
    });

    it('passes a "__proto__" step output to the next step as data only', async () => {
      const pids = await workerPids();
      const res = await run(pollutionThroughOutputs);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual(['undefined', 'undefined', ['__proto__']]);
      expectNoPollution();
      await expectAgentHealthy(pids);
    });

    it('pollutes nothing with "__proto__" and "constructor" keys in params', async () => {
      const pids = await workerPids();
      const body = '{"params":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"plain":1}}';
      const res = await run(pollutionParams, body);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response.polluted).toBe('undefined');
      expect(res.body.response.viaParams).toBe('undefined');
      expect(res.body.response.inherited).toBe(true);
      expect(res.body.response.keys).toEqual(expect.arrayContaining(['constructor', 'plain']));
      expectNoPollution();
      const later = await run(lookForPollution);
      expect(later.body.response).toEqual(['undefined', 'undefined', 'undefined']);
      await expectAgentHealthy(pids);
    });
  });

  describe('10b. hostile params from the API caller', () => {
    it('answers params nested 20000 levels deep (40 kB) cleanly, and stops no worker for it later', async () => {
      const pids = await workerPids();
      const deep = `{"params":{"d":${'['.repeat(20000)}${']'.repeat(20000)}}}`;
      const started = Date.now();
      const res = await run(healthy, deep);
      // Safe: the run works (the params are valid JSON within the body limit) or the request is refused as a bad request.
      expect.soft([200, 400], res.text).toContain(res.status);
      // Runs that span the moment the agent's timer for that request fires (run limit + 2 s grace).
      await sleep(Math.max(0, started + limits.runTimeoutMs + 2000 - 500 - Date.now()));
      const bystanders = await Promise.all([run(slowBystander), run(slowBystander)]);
      for (const bystander of bystanders) expect.soft(bystander.status, bystander.text).toBe(200);
      expect.soft(await workerPids(), 'a sandbox worker was stopped').toEqual(pids);
      await expectAgentHealthy();
    });
  });

  describe('11. state left behind', () => {
    it('shows a later run none of the globals and built-ins an earlier run changed', async () => {
      const pids = await workerPids();
      const first = await run(tamperRun);
      expect(first.status, first.text).toBe(200);
      expect(first.body.response).toBe(1);
      for (let i = 0; i < WORKERS + 1; i++) {
        const later = await run(inspectRun);
        expect(later.status, later.text).toBe(200);
        expect(later.body.response).toEqual(clean);
      }
      await expectAgentHealthy(pids);
    });

    it("shows a step none of an earlier step's globals, only its output", async () => {
      const pids = await workerPids();
      const res = await run(tamperThenInspect);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual({ marker: 42, ...clean });
      await expectAgentHealthy(pids);
    });
  });

  describe('12. oversized responses and logs', () => {
    it.each(sizeCases)(
      'measures a response of %s in UTF-8 bytes against maxResponseBytes',
      async (_title, name, bytes) => {
        const pids = await workerPids();
        const res = await run(name);
        if (bytes === null) {
          expect(res.status).toBe(200);
          expect(res.body.response).toBe('é'.repeat(32000));
        } else {
          expectFailure(
            res,
            502,
            'WORKFLOW_FAILED',
            stepFailed(
              name,
              `RangeError: the returned value is ${bytes} bytes of JSON, over the limit of ${limits.maxResponseBytes}`,
            ),
          );
          expect(res.body.error.details).toMatchObject({ responseTooLarge: true });
        }
        await expectAgentHealthy(pids);
      },
    );

    it('keeps at most maxLogLines log lines and says so', async () => {
      const pids = await workerPids();
      const res = await run(tooManyLogLines);
      expect(res.status, res.text).toBe(200);
      const logs = res.body.steps[0].logs as string[];
      expect(logs).toHaveLength(limits.maxLogLines);
      expect(logs.slice(0, 3)).toEqual(['line 0', 'line 1', 'line 2']);
      expect(logs[limits.maxLogLines - 1]).toBe(`(log limit of ${limits.maxLogLines} lines reached)`);
      await expectAgentHealthy(pids);
    });

    it('cuts a log line longer than maxLogBytes', async () => {
      const pids = await workerPids();
      const res = await run(longLogLine);
      expect(res.status, res.text).toBe(200);
      expect(res.body.steps[0].logs).toEqual([
        `[warn] ${'y'.repeat(limits.maxLogBytes)}… (truncated)`,
        'z'.repeat(limits.maxLogBytes),
      ]);
      await expectAgentHealthy(pids);
    });

    it('ends a step that logs 100 kB lines forever at its time limit', async () => {
      const pids = await workerPids();
      const res = await run(logFlood);
      expectFailure(res, 504, 'WORKFLOW_TIMEOUT', stepTimeout(logFlood));
      await expectAgentHealthy(pids);
    });
  });

  describe('13. sandbox worker processes', () => {
    it('starts sandbox workers with no AWS_* or CREDFLOW_* variables in their environment', async () => {
      expect(process.env.CREDFLOW_ESCAPE_CANARY).toBe(CANARY.CREDFLOW_ESCAPE_CANARY);
      const pids = await workerPids();
      expect(pids).toHaveLength(WORKERS);
      for (const pid of pids) {
        const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
        const names = environ
          .split('\0')
          .filter((entry) => entry !== '')
          .map((entry) => entry.split('=')[0] ?? '');
        expect(names.filter((n) => /^(AWS_|CREDFLOW_)/.test(n))).toEqual([]);
        for (const value of [...Object.values(CANARY), 'agent-secret', t.token]) expect(environ).not.toContain(value);
      }
    });

    it('shows steps only the CREDFLOW_AGENT_APP_ENV_* values as Env', async () => {
      const res = await run(envKeys);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual(['region_hint']);
    });

    it('sends a run whose worker is killed mid-run to a fresh worker once, and fails it with WORKFLOW_FAILED naming the worker when that one is killed too', async () => {
      const pids = await workerPids();
      const pending = run(killMe);
      // Killed once the worker has taken the run.
      await until(
        () => t.agent.parts.sandbox.status().some((w) => w.started === 1),
        'the run was never taken by a worker',
      );
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      // The run goes to a fresh worker, reserved for it; that one is killed too once it has taken the run.
      let second = -1;
      await until(() => {
        second = t.agent.parts.sandbox.status().find((w) => w.reserved && w.started === 1)?.pid ?? -1;
        return second !== -1;
      }, 'the run was never sent again');
      expect(pids).not.toContain(second);
      process.kill(second, 'SIGKILL');
      const res = await pending;
      expectFailure(
        res,
        502,
        'WORKFLOW_FAILED',
        'workflow "killMe" was abandoned: its sandbox worker stopped unexpectedly (signal SIGKILL); the next run gets a new worker',
      );
      expect(res.body.error.details).toEqual({ workflow: 'killMe', sandboxWorkerCrashed: true });
      await expectAgentHealthy();
      const fresh = await workerPids();
      expect(fresh).toHaveLength(WORKERS);
      expect(fresh.filter((pid) => pids.includes(pid) || pid === second)).toEqual([]);
    });

    it('runs a run whose worker is killed mid-run again on a fresh worker, where it succeeds', async () => {
      const pids = await workerPids();
      const pending = run(killMeOnce);
      await until(
        () => t.agent.parts.sandbox.status().some((w) => w.started === 1),
        'the run was never taken by a worker',
      );
      // Stopped at once, so the run cannot finish before its worker is killed.
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      expect(t.agent.parts.sandbox.status().filter((w) => w.started === 1)).toHaveLength(1);
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      const res = await pending;
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toBe('survived');
      const exits = t.logs.lines
        .map((line) => JSON.parse(line) as { event?: string; pid?: number; resentRuns?: number })
        .filter((l) => l.event === 'sandbox.worker.exit' && pids.includes(l.pid ?? -1));
      expect(exits.map((l) => l.resentRuns ?? 0).reduce((a, b) => a + b, 0)).toBe(1);
      await expectAgentHealthy();
      const fresh = await workerPids();
      expect(fresh).toHaveLength(WORKERS);
      expect(fresh.filter((pid) => pids.includes(pid))).toEqual([]);
    });

    it('sends a run its worker died before taking to another worker, where it succeeds', async () => {
      const pids = await workerPids();
      // Stopped workers read no message: the run waits in one of them, sent but not taken.
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      try {
        const pending = run(healthy);
        await until(
          () => t.agent.parts.sandbox.status().some((w) => w.runs === 1),
          'the run was never sent to a worker',
        );
        expect(t.agent.parts.sandbox.status().map((w) => w.started)).toEqual(pids.map(() => 0));
        for (const pid of pids) process.kill(pid, 'SIGKILL');
        const res = await pending;
        expect(res.status, res.text).toBe(200);
        expect(res.body.response).toEqual({ ok: true, user: 'svc_app', length: PASSWORD.length });
      } finally {
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      }
      const exits = t.logs.lines
        .map((line) => JSON.parse(line) as { event?: string; pid?: number; resentRuns?: number })
        .filter((l) => l.event === 'sandbox.worker.exit' && pids.includes(l.pid ?? -1));
      expect(exits).toHaveLength(pids.length);
      expect(exits.map((l) => l.resentRuns ?? 0).reduce((a, b) => a + b, 0)).toBe(1);
      const fresh = await workerPids();
      expect(fresh.filter((pid) => pids.includes(pid))).toEqual([]);
      await expectAgentHealthy(fresh);
    });

    it.each([
      ['a 20000-character unknown key', longUnknownKey],
      ['2000 unknown keys', manyUnknownKeys],
    ])(
      'answers a getSecretValue call with %s with InvalidParameterException, without losing the worker',
      async (_title, name) => {
        const pids = await workerPids();
        const res = await run(name);
        expect(res.status, res.text).toBe(200);
        expect(res.body.response).toEqual({ name: 'InvalidParameterException' });
        await expectAgentHealthy(pids);
      },
    );

    it.each(crashingDescribeCases)(
      'fails a step %s as a step failure, without losing the worker',
      async (_title, name) => {
        const pids = await workerPids();
        const res = await run(name);
        expectFailure(res, 502, 'WORKFLOW_FAILED', new RegExp(`^workflow "${name}" failed in step "attempt": `));
        expect(res.body.error.message.length).toBeLessThan(5000);
        expect(res.body.error.details).toMatchObject({ workflow: name, step: 'attempt' });
        await expectAgentHealthy(pids);
      },
    );

    it('keeps its worker, and the runs that share it, when a step makes console.log send something other than text', async () => {
      const pids = await workerPids();
      const innocents = [run(slowInnocent), run(slowInnocent)];
      await until(
        () => t.agent.parts.sandbox.status().filter((w) => w.started === 1).length === WORKERS,
        'each worker took an innocent run',
      );
      const attacker = await run(nonTextLog);
      expect(attacker.status, attacker.text).toBe(200);
      expect(attacker.body.steps[0].logs).toEqual(['a b', 'undefined']);
      for (const res of await Promise.all(innocents)) {
        expect(res.status, res.text).toBe(200);
        expect(res.body.response).toEqual({ innocent: true });
      }
      await expectAgentHealthy(pids);
    });

    it("does not abandon other workflows' runs that share a worker with a misbehaving step", async () => {
      await workerPids();
      // One slow run per worker, then the misbehaving one joins a busy worker.
      const innocents = [run(slowInnocent), run(slowInnocent)];
      await sleep(150);
      const attacker = await run(longUnknownKey);
      const results = await Promise.all(innocents);
      for (const res of results) {
        expect(res.status, res.text).toBe(200);
        expect(res.body.response).toEqual({ innocent: true });
      }
      expect(attacker.status).toBe(200);
      await expectAgentHealthy();
    });
  });

  describe('14. isolated-vm References', () => {
    it('leaves no Reference reachable from globalThis, its prototypes or its functions', async () => {
      const pids = await workerPids();
      const res = await run(referenceWalk);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response.found).toEqual([]);
      expect(res.body.response.named).toEqual([]);
      expect(res.body.response.visited).toBeGreaterThan(500);
      await expectAgentHealthy(pids);
    });

    it('exposes no __cf_ global, ivm name or bootstrap variable, and the bridge functions are plain functions', async () => {
      const pids = await workerPids();
      const res = await run(referenceGlobals);
      expect(res.status, res.text).toBe(200);
      const r = res.body.response;
      expect(r.cf).toEqual([]);
      expect(r.types).toEqual(Array.from({ length: 9 }, () => 'undefined'));
      expect(r.consoleProps).toEqual(['length', 'name']);
      expect(r.bridgeProps).toEqual(['length', 'name']);
      for (const source of r.sources as string[]) {
        expect(source).toMatch(/=>/);
        expect(source).not.toContain('[native code]');
      }
      await expectAgentHealthy(pids);
    });

    it('reads no isolated-vm option from getters on Object.prototype and hands step code no Reference through them', async () => {
      const pids = await workerPids();
      const res = await run(poisonedOptions);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual({ read: [], captured: [], length: PASSWORD.length });
      expect(res.body.steps[0].logs).toEqual(['still logs']);
      await expectAgentHealthy(pids);
    });

    it("hides the bootstrap's functions from Function.prototype.caller in toString, toJSON and getters it calls", async () => {
      const pids = await workerPids();
      const res = await run(callerWalk);
      expect(res.status, res.text).toBe(200);
      expect(res.body.response).toEqual({ probe: ['null', 'null', 'null'] });
      await expectAgentHealthy(pids);
    });
  });

  it('never put the seeded secret values into a response body or a log line', async () => {
    await expectAgentHealthy();
    const logs = t.logs.text();
    expect(logs).toContain('workflow.run');
    expect(t.bodies.length).toBeGreaterThan(100);
    // No run asked to reveal: the password and the other secret, in any form (as is, URL-encoded, base64, JSON-escaped), appear nowhere.
    for (const form of [...derivedForms(PASSWORD), ...derivedForms(OTHER_VALUE)]) {
      expect(logs.includes(form), `a log line holds ${form}`).toBe(false);
      expect(t.bodies.filter((b) => b.includes(form)).length, `response bodies hold ${form}`).toBe(0);
    }
  });
});
