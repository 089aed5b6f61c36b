import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { loadValidConfig } from '../../src/config/index.js';
import type { Workflow } from '../../src/config/index.js';
import { startLocalSecretsManager } from '../support/local-secrets-manager/index.js';
import type { LocalSecretsManager } from '../support/local-secrets-manager/index.js';
import { MASK, SecretMasker } from '../../src/masking/index.js';
import { runSteps } from '../../src/sandbox/guest/run-steps.js';
import { BridgeError, SandboxWorkers } from '../../src/sandbox/index.js';
import type { BridgeHandler, StepsOutcome } from '../../src/sandbox/index.js';
import { createSecretsGateway, createSsmGateway, type SsmGateway } from '../../src/secrets/index.js';
import type { SecretsGateway } from '../../src/secrets/index.js';
import { createWorkflowRunner, type WorkflowOutcome, type WorkflowRun } from '../../src/workflows/index.js';
import type { WorkflowRunner } from '../../src/workflows/index.js';
import { captureLogs } from '../support/capture-logs.js';

const limits = {
  memoryMb: 32,
  stepTimeoutMs: 1000,
  runTimeoutMs: 3000,
  maxResponseBytes: 10000,
  maxBridgeCalls: 20,
  maxLogBytes: 8192,
  maxLogLines: 200,
  maxRunLogBytes: 1024 * 1024,
  maxRunLogLines: 100_000,
};
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The host side a step calls: one known secret, ResourceNotFoundException for anything else. */
const bridge: BridgeHandler = async (method, args) => {
  const { SecretId } = args as { SecretId?: unknown };
  if (method === 'aws.secretsManager.getSecretValue' && SecretId === 'db') return { SecretString: '{"user":"app"}' };
  if (SecretId === 'crash') throw new Error(`host failure in ${fileURLToPath(import.meta.url)}`);
  throw new BridgeError(
    'ResourceNotFoundException',
    `Secrets Manager can't find the secret ${String(SecretId)}`,
    'NotFound',
  );
};

function run(
  steps: string | string[],
  input: { params?: Record<string, unknown>; env?: Record<string, string> } = {},
  overrides: Partial<typeof limits> = {},
): Promise<StepsOutcome> {
  const codes = Array.isArray(steps) ? steps : [steps];
  return runSteps({
    workflow: 'wf',
    steps: codes.map((code, i) => ({ name: `step${i + 1}`, code })),
    input: { params: input.params ?? {}, env: input.env ?? {}, context: { workflow: 'wf', integration: 'orders' } },
    limits: { ...limits, ...overrides },
    bridge,
  });
}

async function responseOf(steps: string | string[], input?: Parameters<typeof run>[1]): Promise<unknown> {
  return ran(await run(steps, input)).response;
}

/** A run that must have succeeded (its failure's message otherwise). */
function ran(outcome: StepsOutcome): Extract<StepsOutcome, { ok: true }> {
  if (!outcome.ok) throw new Error(outcome.failure.message);
  return outcome;
}

/** The failure of a run that must have failed, with the steps that ran. */
async function failureOf(promise: Promise<StepsOutcome>) {
  const outcome = await promise;
  if (outcome.ok) throw new Error('expected the run to fail');
  return { ...outcome.failure, steps: outcome.steps };
}

/** The response of a run that must have succeeded (its error otherwise). */
function succeeded(run: WorkflowOutcome): WorkflowRun {
  if (!run.ok) throw run.error;
  return run;
}

describe('runSteps (the guest side of the sandbox, in this process)', () => {
  it('makes the JSON a step returns the response', async () => {
    const result = ran(await run('return { host: "db", port: 5432, ok: true, tags: ["a"], none: null };'));
    expect(result.response).toEqual({ host: 'db', port: 5432, ok: true, tags: ['a'], none: null });
    expect(result.steps.map((s) => s.name)).toEqual(['step1']);
  });

  it('shows params, Env and context to step code', async () => {
    const response = await responseOf('return { params, Env, context };', {
      params: { secretName: 'db' },
      env: { region: 'eu-west-1' },
    });
    expect(response).toEqual({
      params: { secretName: 'db' },
      Env: { region: 'eu-west-1' },
      context: { workflow: 'wf', integration: 'orders' },
    });
  });

  it("shows an earlier step's output to later steps as <stepName>.output", async () => {
    const response = await responseOf([
      'return { n: 20 };',
      'return step1.output.n + 1;',
      'return [step1.output.n, step2.output];',
    ]);
    expect(response).toEqual([20, 21]);
  });

  it('captures console output per step, formatting objects as JSON', async () => {
    const result = ran(
      await run([
        'console.log("first", { a: 1 }, [2]); return 1;',
        'console.warn("second"); console.error(new TypeError("bad")); return 2;',
      ]),
    );
    expect(result.steps.map((s) => s.logs)).toEqual([
      [{ level: 'info', message: 'first {"a":1} [2]' }],
      [
        { level: 'warn', message: 'second' },
        { level: 'error', message: 'TypeError: bad' },
      ],
    ]);
  });

  it('fails with WORKFLOW_FAILED naming the step and the message when a step throws', async () => {
    const failure = await failureOf(
      run(['return 1;', 'console.log("about to fail"); throw new Error("no secret for you");']),
    );
    expect(failure.code).toBe('WORKFLOW_FAILED');
    expect(failure.message).toBe('workflow "wf" failed in step "step2": Error: no secret for you');
    expect(failure.details).toMatchObject({ workflow: 'wf', step: 'step2' });
    expect(failure.steps.map((s) => [s.name, s.logs.length])).toEqual([
      ['step1', 0],
      ['step2', 1],
    ]);
  });

  it("keeps the thrown error's name", async () => {
    const failure = await failureOf(run('throw new TypeError("expected a string");'));
    expect(failure.message).toContain('TypeError: expected a string');
    expect(failure.details).toMatchObject({ errorName: 'TypeError' });
  });

  it('hands a BridgeError to the step as an Error with that name, message and code, so code can branch on it', async () => {
    const response = await responseOf(`
      try {
        await aws.secretsManager.getSecretValue({ SecretId: 'missing' });
        return 'found';
      } catch (e) {
        return { isError: e instanceof Error, name: e.name, message: e.message, code: e.code };
      }`);
    expect(response).toEqual({
      isError: true,
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the secret missing",
      code: 'NotFound',
    });
  });

  it("never lets the host error's stack or host file paths reach the step", async () => {
    const response = (await responseOf(`
      const seen = [];
      for (const SecretId of ['missing', 'crash']) {
        try { await aws.secretsManager.getSecretValue({ SecretId }); } catch (e) {
          seen.push({ name: e.name, message: e.message, stack: String(e.stack), props: Object.getOwnPropertyNames(e).join(',') });
        }
      }
      return seen;`)) as { name: string; message: string; stack: string; props: string }[];
    expect(response).toHaveLength(2);
    for (const error of response) {
      for (const text of [error.message, error.stack, error.props]) {
        expect(text).not.toContain('/work/');
        expect(text).not.toContain('node_modules');
        expect(text).not.toContain('src/');
      }
    }
    // A host error that is not a BridgeError reaches the step without its message.
    expect(response[1]).toMatchObject({ name: 'Error', message: 'aws.secretsManager.getSecretValue failed' });
  });

  it.each([
    ['an infinite loop', 'while (true) {}'],
    ['a promise that never settles', 'await new Promise(() => {});'],
    ['a microtask loop', 'const spin = () => { Promise.resolve().then(spin); }; spin(); await new Promise(() => {});'],
  ])('ends %s with WORKFLOW_TIMEOUT', async (_label, code) => {
    const failure = await failureOf(run(code));
    expect(failure.code).toBe('WORKFLOW_TIMEOUT');
    expect(failure.message).toBe('workflow "wf" failed in step "step1": the step exceeded its time limit of 1000 ms');
  });

  it.each([
    ['a function', 'return { f() {} };', 'TypeError: the returned value.f is a function, which JSON cannot hold'],
    [
      'a cycle',
      'const a = { b: {} }; a.b.a = a; return a;',
      'TypeError: the returned value.b.a refers back to itself (a cycle)',
    ],
    ['NaN', 'return { port: NaN };', 'TypeError: the returned value.port is NaN, which JSON cannot hold'],
    ['a Map', 'return new Map([["a", 1]]);', 'TypeError: the returned value is a Map, which JSON cannot hold'],
    ['a BigInt', 'return { n: 10n };', 'TypeError: the returned value.n is a bigint, which JSON cannot hold'],
  ])('refuses a response holding %s with a clear WORKFLOW_FAILED', async (_label, code, expected) => {
    const failure = await failureOf(run(code));
    expect(failure.code).toBe('WORKFLOW_FAILED');
    expect(failure.message).toBe(`workflow "wf" failed in step "step1": ${expected}`);
  });

  it('drops undefined object properties, as JSON does', async () => {
    expect(await responseOf('return { a: 1, b: undefined };')).toEqual({ a: 1 });
  });

  it('fails a response over maxResponseBytes, naming the limit', async () => {
    const failure = await failureOf(run('return "x".repeat(20000);'));
    expect(failure.code).toBe('WORKFLOW_FAILED');
    expect(failure.message).toContain('over the limit of 10000');
    expect(failure.details).toMatchObject({ responseTooLarge: true });
  });

  it('counts the response limit in UTF-8 bytes, not characters', async () => {
    // 6000 × "é" is 12002 bytes of JSON but only 6002 UTF-16 code units.
    const failure = await failureOf(run('return "é".repeat(6000);'));
    expect(failure.message).toContain('over the limit of 10000');
  });

  it('fails a step that exhausts the heap, naming the memory limit', async () => {
    // Arrays of 2^20 slots make the heap grow by megabytes per turn. Near the limit V8 collects
    // again and again, which on a busy machine took over the usual 1 s step limit: this test is about
    // memory, so its deadlines are far enough that only the memory limit can end the step.
    const failure = await failureOf(
      run(
        'const hoard = []; while (true) hoard.push(new Array(1 << 20).fill("row " + hoard.length));',
        {},
        { stepTimeoutMs: 20_000, runTimeoutMs: 20_000 },
      ),
    );
    expect(failure.code).toBe('WORKFLOW_FAILED');
    expect(failure.message).toContain('memory limit of 32 MB');
  });

  it('does not carry globalThis state from one step to the next, nor from one run to the next', async () => {
    const leave = 'globalThis.leftover = "x"; Object.prototype.polluted = true; return 1;';
    const look = 'return [typeof globalThis.leftover, typeof ({}).polluted];';
    expect(await responseOf([leave, look])).toEqual(['undefined', 'undefined']);
    await run(leave);
    expect(await responseOf(look)).toEqual(['undefined', 'undefined']);
  });

  it('reaches no isolated-vm Reference: the __cf_ globals are gone and the bridge is a plain function', async () => {
    const response = await responseOf(`return {
      cfGlobals: Object.getOwnPropertyNames(globalThis).filter((n) => n.startsWith('__cf_')),
      bridge: typeof __cf_bridge, log: typeof __cf_log, input: typeof __cf_input,
      getSecretValue: typeof aws.secretsManager.getSecretValue,
      processViaConstructor: aws.secretsManager.getSecretValue.constructor('return typeof process')(),
    };`);
    expect(response).toEqual({
      cfGlobals: [],
      bridge: 'undefined',
      log: 'undefined',
      input: 'undefined',
      getSecretValue: 'function',
      processViaConstructor: 'undefined',
    });
  });

  /** Every option name isolated-vm 5 reads (ReadOption and TransferOptions in its sources). */
  const ivmOptionNames = [
    'reference',
    'copy',
    'externalCopy',
    'promise',
    'timeout',
    'arguments',
    'result',
    'release',
    'accessors',
    'filename',
    'lineOffset',
    'columnOffset',
    'produceCachedData',
    'cachedData',
    'transferOut',
    'transferIn',
    'transferList',
    'unsafeInherit',
    'async',
    'ignored',
    'inspector',
    'snapshot',
    'memoryLimit',
    'onCatastrophicError',
    'meta',
    'code',
  ];
  /**
   * Step code that defines a getter on Object.prototype for each option name (answering `answers`),
   * and getters for then, Symbol.toPrimitive, toJSON, toString and valueOf that note any isolated-vm
   * object they are read from; it then calls the bridge and logs, and reports what it saw.
   */
  const poisonOptions = (answers: Record<string, unknown>) => `
    const names = ${JSON.stringify(ivmOptionNames)};
    const answers = Object.assign(Object.create(null), ${JSON.stringify(answers)});
    const read = [];
    const captured = [];
    const ivmNames = ['Reference', 'ExternalCopy', 'Isolate', 'Context', 'Script', 'Callback'];
    const looksIvm = (o) => {
      try {
        if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return false;
        const ctor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(o) || {}, 'constructor');
        return ['deref', 'derefInto', 'copySync', 'applySync', 'setSync', 'getSync'].some((m) => typeof o[m] === 'function') ||
          (ivmNames.includes(ctor && ctor.value && ctor.value.name)) || (typeof o === 'function' && ivmNames.includes(o.name));
      } catch (e) { return false; }
    };
    const note = (where, self) => { if (looksIvm(self)) captured.push(where + ': ' + Object.prototype.toString.call(self)); };
    const saved = {};
    for (const name of names) {
      Object.defineProperty(Object.prototype, name, { configurable: true, get() {
        read.push(name); note(name, this);
        const answer = answers[name];
        return answer === 'object' ? {} : answer;
      } });
    }
    for (const key of ['then', Symbol.toPrimitive, 'toJSON', 'toString', 'valueOf']) {
      saved[String(key)] = Object.getOwnPropertyDescriptor(Object.prototype, key);
      const original = Object.prototype[key];
      Object.defineProperty(Object.prototype, key, { configurable: true, get() { note(String(key), this); return original; } });
    }
    let secret;
    try { secret = (await aws.secretsManager.getSecretValue({ SecretId: 'db' })).SecretString; } catch (e) { secret = 'threw ' + e.name + ': ' + e.message; }
    try { console.log('logged', 1, { a: 1 }); } catch (e) { captured.push('console.log threw ' + e.name); }
    for (const name of names) delete Object.prototype[name];
    for (const key of ['then', Symbol.toPrimitive, 'toJSON', 'toString', 'valueOf']) {
      if (saved[String(key)]) Object.defineProperty(Object.prototype, key, saved[String(key)]); else delete Object.prototype[key];
    }
    return { read: [...new Set(read)], captured, secret };`;

  it.each([
    ['reference', { reference: true, arguments: 'object', result: 'object' }],
    ['externalCopy', { externalCopy: true, arguments: 'object', result: 'object' }],
    ['copy', { copy: true, arguments: 'object', result: 'object' }],
    [
      'timeout, release, accessors and promise',
      { timeout: 1, release: true, accessors: true, promise: true, async: true, ignored: true },
    ],
  ])(
    'reads no isolated-vm option from getters that step code puts on Object.prototype (%s), hands it no Reference, and still runs',
    async (_title, answers) => {
      const result = ran(await run(poisonOptions(answers)));
      expect(result.response).toEqual({ read: [], captured: [], secret: '{"user":"app"}' });
      expect(result.steps[0]?.logs).toEqual([{ level: 'info', message: 'logged 1 {"a":1}' }]);
    },
  );

  it('sends only text as a log line, whatever step code does to Array.prototype, String or JSON', async () => {
    const result = ran(
      await run(
        `Array.prototype.join = function () { return 42; };
       Array.prototype.map = function () { return { not: 'text' }; };
       String = function () { return 7; };
       JSON.stringify = function () { return { not: 'text' }; };
       console.log('a', 'b');
       console.warn(undefined, { c: 1 });
       return 'logged';`,
      ),
    );
    expect(result.response).toBe('logged');
    expect(result.steps[0]?.logs).toEqual([
      { level: 'info', message: 'a b' },
      { level: 'warn', message: 'undefined {"c":1}' },
    ]);
  });

  it('has no require or process', async () => {
    expect(await responseOf('return [typeof require, typeof process, typeof globalThis.process];')).toEqual([
      'undefined',
      'undefined',
      'undefined',
    ]);
  });

  it('runs a getter of the returned object inside the sandbox and copies its value', async () => {
    const response = await responseOf(
      'let reads = 0; return { get where() { reads += 1; return typeof process + " " + reads; } };',
    );
    expect(response).toEqual({ where: 'undefined 1' });
    expect(Object.getOwnPropertyDescriptor(response, 'where')?.get).toBeUndefined();
  });

  it('fails cleanly when the code does not compile', async () => {
    const failure = await failureOf(run('return {;'));
    expect(failure.code).toBe('WORKFLOW_FAILED');
    expect(failure.message).toMatch(/^workflow "wf" failed in step "step1": the code does not compile: /);
  });

  // Step code becomes the body of an AsyncFunction built inside the isolate; code that tries to close
  // a wrapper and hand the host its own completion value must fail instead of passing unchecked.
  it.each([
    [
      'a response over the limit',
      `}).call(undefined)); true ? '{"ok":true,"value":"' + 'x'.repeat(50000) + '"}' : ((function () {`,
    ],
    ['text that is not JSON', `}).call(undefined)); true ? 'not json' : ((function () {`],
  ])('does not let step code break out of its function to hand the host %s', async (_label, code) => {
    const failure = await failureOf(run(code));
    expect(failure.code).toBe('WORKFLOW_FAILED');
  });

  it('fails as WORKFLOW_FAILED, not with a raw error, when a step name clashes with a sandbox global', async () => {
    const steps = [
      { name: 'undefined', code: 'return 1;' },
      { name: 'next', code: 'return 2;' },
    ];
    const failure = await failureOf(
      runSteps({ workflow: 'wf', steps, input: { params: {}, env: {}, context: {} }, limits, bridge }),
    );
    expect(failure.code).toBe('WORKFLOW_FAILED');
  });

  it('still runs a normal workflow after all of the above', async () => {
    expect(
      await responseOf([
        'const s = await aws.secretsManager.getSecretValue({ SecretId: "db" }); return JSON.parse(s.SecretString);',
        'return step1.output.user;',
      ]),
    ).toBe('app');
  });
});

// The runner takes the sandbox the agent uses, worker processes: what these tests check (the bridge to
// the real secrets gateway, masking, the outcome) then holds for the path production takes.
describe('createWorkflowRunner with sandbox workers, the real secrets gateway and a local Secrets Manager', () => {
  const password = 'Pw-runner-7f3a&<>"q';
  const dbSecret = { engine: 'postgres', host: 'db.internal', port: 5432, username: 'app', password, dbname: 'orders' };
  const binarySecret = { token: 'binary-token-9c1d' };

  let lsm: LocalSecretsManager;
  let gateway: SecretsGateway;
  let ssm: SsmGateway;
  let workers: SandboxWorkers;

  /** A runner with its own agent masker and captured logs, so each test sees only what it caused. */
  function runnerWith(appEnv: Record<string, string> = {}): {
    runner: WorkflowRunner;
    masker: SecretMasker;
    logs: ReturnType<typeof captureLogs>;
  } {
    const masker = new SecretMasker();
    const logs = captureLogs();
    const runner = createWorkflowRunner({
      stores: { secretsManager: gateway, ssm },
      masker,
      appEnv,
      limits,
      logger: pino({ level: 'debug' }, logs),
      sandbox: workers,
    });
    return { runner, masker, logs };
  }

  function inlineWorkflow(code: string, params: Record<string, unknown> = {}): Workflow {
    return {
      name: 'inline',
      file: 'workflows/inline.json',
      description: undefined,
      params,
      limits: {},
      allowedSecrets: undefined,
      allowedRoles: undefined,
      allowedHosts: undefined,
      allowedParameters: undefined,
      steps: [{ name: 'fetch', code, source: 'inline' }],
      written: {},
    };
  }

  const fetchCode = (request: string) => `
    try {
      return { ok: await aws.secretsManager.getSecretValue(${request}) };
    } catch (e) {
      return { name: e.name, message: e.message };
    }`;

  beforeAll(async () => {
    lsm = await startLocalSecretsManager({
      credentials: [
        { accessKeyId: 'AKIDAGENT', secretAccessKey: 'agent-secret-key' },
        { accessKeyId: 'AKIDFROMENV', secretAccessKey: 'env-secret-key-55' },
        { accessKeyId: 'AKIDSTEP', secretAccessKey: 'step-secret-key-77' },
      ],
    });
    lsm.createSecret('db', { SecretString: JSON.stringify(dbSecret) });
    lsm.createSecret('bin', { SecretBinary: new TextEncoder().encode(JSON.stringify(binarySecret)) });
    workers = new SandboxWorkers({ size: 1, prewarm: 1, memoryMb: limits.memoryMb, logger: pino({ level: 'silent' }) });
    const awsOptions = {
      endpoint: lsm.url,
      defaultRegion: 'us-east-1',
      defaultCredentials: { accessKeyId: 'AKIDAGENT', secretAccessKey: 'agent-secret-key' },
    };
    gateway = createSecretsGateway(awsOptions);
    ssm = createSsmGateway(awsOptions);
  });

  afterAll(async () => {
    await workers.close();
    gateway.close();
    ssm.close();
    await lsm.close();
  });

  it('fetches a secret and returns it as the response', async () => {
    const run = await runnerWith().runner.run(
      inlineWorkflow(
        'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName }); return JSON.parse(r.SecretString);',
        { secretName: 'db' },
      ),
    );
    expect(succeeded(run).response).toEqual(dbSecret);
    expect(run.steps.map((s) => s.name)).toEqual(['fetch']);
  });

  it('runs the shipped getSecrets workflow with the credentials it finds in Env', async () => {
    const config = await loadValidConfig(repoRoot, {});
    const workflow = config.workflows.get('getSecrets');
    if (!workflow) throw new Error('the shipped getSecrets workflow did not load');
    lsm.resetRequests();
    const run = await runnerWith({
      aws_access_key_id: 'AKIDFROMENV',
      aws_secret_access_key: 'env-secret-key-55',
    }).runner.run(workflow, { params: { secretName: 'db' } });
    expect(succeeded(run).response).toEqual(dbSecret);
    expect(lsm.requests.map((r) => [r.operation, r.secretId, r.accessKeyId])).toEqual([
      ['GetSecretValue', 'db', 'AKIDFROMENV'],
    ]);
  });

  it('delivers SecretBinary as base64 that atob decodes', async () => {
    const run = await runnerWith().runner.run(
      inlineWorkflow(
        'const r = await aws.secretsManager.getSecretValue({ SecretId: "bin" }); return { raw: r.SecretBinary, value: JSON.parse(atob(r.SecretBinary)) };',
      ),
    );
    expect(succeeded(run).response).toEqual({
      raw: Buffer.from(JSON.stringify(binarySecret)).toString('base64'),
      value: binarySecret,
    });
  });

  it('lets the step see ResourceNotFoundException for a missing secret', async () => {
    const run = await runnerWith().runner.run(inlineWorkflow(fetchCode('{ SecretId: "does-not-exist" }')));
    expect(succeeded(run).response).toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('answers an invalid argument with InvalidParameterException without calling the endpoint', async () => {
    lsm.resetRequests();
    const run = await runnerWith().runner.run(inlineWorkflow(fetchCode('{ SecretId: 42 }')));
    expect(succeeded(run).response).toMatchObject({
      name: 'InvalidParameterException',
      message: expect.stringContaining('SecretId'),
    });
    expect(lsm.countRequests()).toBe(0);
  });

  it('signs with the credentials the step passes, and with the default ones otherwise', async () => {
    lsm.resetRequests();
    const { runner, masker } = runnerWith();
    await runner.run(
      inlineWorkflow(
        fetchCode(
          '{ SecretId: "db", credentials: { accessKeyId: "AKIDSTEP", secretAccessKey: "step-secret-key-77" } }',
        ),
      ),
    );
    await runner.run(inlineWorkflow(fetchCode('{ SecretId: "db" }')));
    expect(lsm.requests.map((r) => r.accessKeyId)).toEqual(['AKIDSTEP', 'AKIDAGENT']);
    // A step's own choice of strings is not learnt (issue 10, section 4): the agent's keys are registered at start.
    expect(masker.knows('step-secret-key-77')).toBe(false);
  });

  it("teaches the agent's masker and the run's masker the secret's password", async () => {
    const { runner, masker } = runnerWith();
    expect(masker.knows(password)).toBe(false);
    const run = await runner.run(inlineWorkflow(fetchCode('{ SecretId: "db" }')));
    expect(masker.knows(password)).toBe(true);
    expect(run.masker.knows(password)).toBe(true);
    expect(masker.mask(`login as app with ${password}`)).toBe(`login as app with ${MASK}`);
  });

  it('returns a failed outcome with the error, the steps and the masker when a step fails', async () => {
    const code = 'await aws.secretsManager.getSecretValue({ SecretId: "db" }); throw new Error("no luck");';
    const failed = await runnerWith().runner.run(inlineWorkflow(code));
    if (failed.ok) throw new Error('expected the run to fail');
    const { error } = failed;
    expect(error.code).toBe('WORKFLOW_FAILED');
    expect(error.message).toBe('workflow "inline" failed in step "fetch": Error: no luck');
    expect(failed.steps.map((s) => s.name)).toEqual(['fetch']);
    expect(failed.masker.knows(password)).toBe(true);
  });

  it('reports a step that throws an Error with a 5 MB message as a thrown error, with the start of its message masked (issue 19, section 6)', async () => {
    const code =
      'const r = await aws.secretsManager.getSecretValue({ SecretId: "db" }); const p = JSON.parse(r.SecretString).password; throw new Error("login failed for " + p + " " + "y".repeat(5_000_000));';
    const failed = await runnerWith().runner.run(inlineWorkflow(code));
    if (failed.ok) throw new Error('expected the run to fail');
    const { error } = failed;
    expect(error.code).toBe('WORKFLOW_FAILED');
    const length = 'login failed for '.length + password.length + 1 + 5_000_000;
    expect(error.message).toMatch(
      new RegExp(
        `^workflow "inline" failed in step "fetch": the step threw Error with a message of ${length} characters, cut to its first 2000: login failed for \\*{8} y+…$`,
      ),
    );
    expect(error.message).not.toContain('bytes of JSON');
    expect(error.message).not.toContain(password);
    expect(error.message.length).toBeLessThan(2200);
    expect(error.details).toMatchObject({ errorName: 'Error', messageLength: length });
  });

  it('never writes the secret password to the logs, whether the run succeeds or fails', async () => {
    const { runner, logs } = runnerWith();
    await runner.run(
      inlineWorkflow(
        'const r = await aws.secretsManager.getSecretValue({ SecretId: "db" }); console.log(r.SecretString); return JSON.parse(r.SecretString);',
      ),
    );
    await runner
      .run(inlineWorkflow('await aws.secretsManager.getSecretValue({ SecretId: "bin" }); throw new Error("no luck");'))
      .catch(() => undefined);
    const text = logs.text();
    expect(logs.lines).toHaveLength(2);
    expect(text).toContain('"outcome":"ok"');
    expect(text).toContain('"outcome":"error"');
    expect(text).not.toContain(password);
    expect(text).not.toContain(JSON.stringify(password).slice(1, -1));
    expect(text).not.toContain(binarySecret.token);
  });
});
