import { describe, expect, it } from 'vitest';
import { bridgePathsIn, closestBridgePath, storesReadBy } from '../../src/config/bridge-calls.js';
import { bridgeWarnings } from '../../src/config/bridge-warnings.js';
import type { Workflow } from '../../src/config/index.js';

const workflow = (steps: { name: string; code: string }[], extra: Partial<Workflow> = {}): Workflow => ({
  name: 'w',
  file: 'workflows/w.json',
  description: undefined,
  params: {},
  limits: {},
  allowedSecrets: undefined,
  allowedRoles: undefined,
  allowedHosts: undefined,
  allowedParameters: undefined,
  steps: steps.map((s) => ({ ...s, source: 'inline' })),
  written: {},
  ...extra,
});

describe('the static scan of step code for bridge calls (issue 14, "for every store")', () => {
  it('finds each path once, without spaces, with the line it is first written on', () => {
    const code =
      'const a = await aws . ssm\n  .getParameter({ Name: "x" });\nconst b = await aws.ssm.getParameter({});\nreturn vault.kv.get({ path: "p" });';
    expect(bridgePathsIn(code)).toEqual([
      { path: 'aws.ssm.getParameter', line: 1 },
      { path: 'vault.kv.get', line: 4 },
    ]);
  });

  it('skips a property of something else that happens to be named aws or http', () => {
    expect(bridgePathsIn('return params.aws.region + config.http.port + myaws.x + $http.y;')).toEqual([]);
  });

  it('suggests the closest known path for a near miss, and nothing for a store the bridge does not have', () => {
    expect(closestBridgePath('aws.secretsManager.getSecret')).toBe('aws.secretsManager.getSecretValue');
    expect(closestBridgePath('vault.kv.put')).toBe('vault.kv.get');
    expect(closestBridgePath('aws.ssm.getParameters')).toBe('aws.ssm.getParameter');
    expect(closestBridgePath('aws.s3.getObject')).toBeUndefined();
  });

  it('names the stores the steps reach, sorted, through full paths, objects and properties of functions', () => {
    const steps = [
      { code: 'const sm = aws.secretsManager; return sm.getSecretValue({ SecretId: "a" });' },
      { code: 'return await vault.read.call(null, { path: "secret/data/x" }) ?? http.fetch("https://x")' },
      { code: 'return aws.ssm.getParametersByPath({ Path: "/" }); // and aws.s3.getObject, unknown' },
    ];
    expect(storesReadBy(steps)).toEqual(['http', 'secretsmanager', 'ssm', 'vault']);
    expect(storesReadBy([])).toEqual([]);
  });
});

describe('the warnings validate prints for step code', () => {
  it('warns of an unknown call, naming file, step, line and path, with the closest known one', () => {
    const w = workflow([
      { name: 'fetch', code: 'return aws.secretsManager.getSecretValue({ SecretId: "a" });' },
      {
        name: 'more',
        code: 'await vault.kv.put({ path: "p" });\nawait aws.s3.getObject({});\naws.secretsManager.listSecrets({});',
      },
    ]);
    expect(bridgeWarnings(w)).toEqual([
      'workflows/w.json: steps[1].code: step "more", line 1: vault.kv.put is not a bridge function (did you mean vault.kv.get?)',
      'workflows/w.json: steps[1].code: step "more", line 2: aws.s3.getObject is not a bridge function (docs/workflows-and-sandbox.md lists the bridge functions)',
      'workflows/w.json: steps[1].code: step "more", line 3: aws.secretsManager.listSecrets is not a bridge function (known: aws.secretsManager.getSecretValue, aws.secretsManager.batchGetSecretValue, aws.secretsManager.describeSecret)',
    ]);
  });

  it('accepts every listed function and any object on the way to one', () => {
    const w = workflow([
      {
        name: 'ok',
        code: 'const ssm = aws.ssm; const kv = vault.kv; return aws.secretsManager.describeSecret({ SecretId: "a" });',
      },
    ]);
    expect(bridgeWarnings(w)).toEqual([]);
  });

  it('warns when http.fetch has no allowedHosts, and not once some are allowed', () => {
    const steps = [{ name: 'call', code: 'return (await http.fetch("https://api.example.com/x")).json();' }];
    expect(bridgeWarnings(workflow(steps))).toEqual([
      'workflows/w.json: allowedHosts: step "call" calls http.fetch, but the workflow allows no host: every call will be refused',
    ]);
    expect(bridgeWarnings(workflow(steps, { allowedHosts: ['https://api.example.com'] }))).toEqual([]);
  });

  it('warns when an AWS call passes a roleArn and the workflow allows no role', () => {
    const steps = [
      {
        name: 'get',
        code: 'return aws.ssm.getParameter({ Name: "/a", roleArn: "arn:aws:iam::123456789012:role/r" });',
      },
    ];
    expect(bridgeWarnings(workflow(steps))).toEqual([
      'workflows/w.json: allowedRoles: step "get" passes a roleArn, but the workflow allows no role: the call will be refused',
    ]);
    expect(bridgeWarnings(workflow(steps, { allowedRoles: ['arn:aws:iam::123456789012:role/*'] }))).toEqual([]);
  });
});
