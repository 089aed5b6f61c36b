import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASK } from '../../src/masking/index.js';
import { postgresIntegration } from '../support/config-dir.js';
import { query } from '../support/integration-probes.js';
import { startTestAgent, type TestAgent } from '../support/start-test-agent.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const shipped = (file: string) => readFileSync(path.join(import.meta.dirname, '../../workflows', file), 'utf8');

const dbPassword = 'Ssm-Pw-7Kq2xV9mR4tZ';
const apiKey = 'ssm_live_Hq8Vw2Lm5Nx7Pz3R';

/** A workflow of one step, `code`, with optional allowedParameters. */
const workflow = (name: string, code: string, allowedParameters?: string[]) => ({
  name,
  ...(allowedParameters ? { allowedParameters } : {}),
  steps: [{ name: 'fetch', code }],
});

/** Runs `call` (an expression over aws.ssm) and answers its result, or the error's name and message. */
const trying = (call: string) => `
  try { return { ok: await (${call}) }; }
  catch (e) { return { name: e.name, message: e.message }; }`;

describe('aws.ssm through the real agent, the SSM client and the local endpoint (issue 14, section 1)', () => {
  let t: TestAgent;
  let db: TestDatabase;

  /** A preview of `name` (masked unless `reveal`). */
  const run = async (name: string, params: Record<string, unknown> = {}, reveal = false) =>
    t.request('POST', `/api/v1/workflows/${name}/run`, { params, ...(reveal ? { reveal } : {}) });

  const ssmCalls = (operation: string) => t.secrets.requests.filter((r) => r.operation === operation);

  beforeAll(async () => {
    db = await createTestDatabase('ssm');
    t = await startTestAgent({
      workflows: {
        getSsmParameter: JSON.parse(shipped('getSsmParameter.json')),
        getParameter: workflow(
          'getParameter',
          trying('aws.ssm.getParameter({ Name: params.name, WithDecryption: params.decrypt })'),
        ),
        byPath: workflow(
          'byPath',
          trying('aws.ssm.getParametersByPath({ Path: params.path, Recursive: params.recursive })'),
        ),
        onlyApp: workflow(
          'onlyApp',
          trying(
            'params.path ? aws.ssm.getParametersByPath({ Path: params.path, Recursive: true, WithDecryption: true }) : aws.ssm.getParameter({ Name: params.name, WithDecryption: true })',
          ),
          ['/app/db/*', '/app/name'],
        ),
        none: workflow('none', trying('aws.ssm.getParameter({ Name: params.name })'), []),
        leaks: workflow(
          'leaks',
          `const r = await aws.ssm.getParameter({ Name: '/app/api-key', WithDecryption: true });
           console.log('the key is ' + r.Parameter.Value);
           throw new Error('refused: ' + r.Parameter.Value.slice(2));`,
        ),
      },
      files: { 'workflows/getSsmParameter.js': shipped('getSsmParameter.js') },
      integrations: {
        'orders-ssm': {
          ...postgresIntegration('orders-ssm', 'getSsmParameter'),
          fetchCredentialsDynamically: {
            enabled: true,
            workflow: 'getSsmParameter',
            params: { parameterName: '/credflow/test/orders' },
          },
          connection: {
            host: '<<getSsmParameter.response.host>>',
            port: '<<getSsmParameter.response.port>>',
            database: '<<getSsmParameter.response.dbname>>',
            user: '<<getSsmParameter.response.username>>',
            password: '<<getSsmParameter.response.password>>',
          },
        },
      },
    });
    const p = (name: string, value: string, type?: 'String' | 'SecureString' | 'StringList') =>
      t.secrets.putParameter(name, value, type ? { type } : {});
    p('/app/db/host', 'db.internal');
    p('/app/db/password', dbPassword, 'SecureString');
    p('/app/db/replicas', 'r1,r2', 'StringList');
    p('/app/name', 'orders');
    p('/app/api-key', apiKey, 'SecureString');
    p('/app/deep/er/x', 'deep');
    for (let i = 0; i < 25; i += 1) p(`/many/p${String(i).padStart(2, '0')}`, `v${i}`);
    for (let i = 0; i < 101; i += 1) p(`/huge/p${String(i).padStart(3, '0')}`, `v${i}`);
    p(
      '/credflow/test/orders',
      JSON.stringify({
        engine: 'postgres',
        host: db.host,
        port: db.port,
        username: db.username,
        password: db.password,
        dbname: db.dbname,
      }),
      'SecureString',
    );
  });

  afterAll(async () => {
    await t?.close();
  });

  it('reads a String parameter as it is: a host name is configuration, not a secret', async () => {
    const res = await run('getParameter', { name: '/app/db/host' });
    expect(res.status).toBe(200);
    expect(res.body.response.ok.Parameter).toMatchObject({
      Name: '/app/db/host',
      Type: 'String',
      Value: 'db.internal',
      Version: 1,
      DataType: 'text',
    });
    expect(Date.parse(res.body.response.ok.Parameter.LastModifiedDate)).toBeGreaterThan(0);
    const list = await run('getParameter', { name: '/app/db/replicas' });
    expect(list.body.response.ok.Parameter).toMatchObject({ Type: 'StringList', Value: 'r1,r2' });
  });

  it('decrypts a SecureString only WithDecryption, then masks it everywhere but a reveal', async () => {
    const sealed = await run('getParameter', { name: '/app/db/password' });
    expect(sealed.body.response.ok.Parameter.Type).toBe('SecureString');
    expect(sealed.text).not.toContain(dbPassword);

    const masked = await run('getParameter', { name: '/app/db/password', decrypt: true });
    expect(masked.body.response.ok.Parameter.Value).toBe(MASK);
    const revealed = await run('getParameter', { name: '/app/db/password', decrypt: true }, true);
    expect(revealed.body.response.ok.Parameter.Value).toBe(dbPassword);
  });

  it('keeps a decrypted value out of the step’s logs and errors', async () => {
    const res = await run('leaks');
    expect(res.status).toBe(502);
    expect(res.text).toContain('refused');
    expect(res.text).not.toContain(apiKey.slice(2));
    // The step's console line reaches the preview (details.steps), masked.
    expect(JSON.stringify(res.body.error.details.steps)).toContain(`the key is ${MASK}`);
    expect(t.logs.text()).not.toContain(apiKey);
  });

  it('hands the step ParameterNotFound, naming the parameter', async () => {
    const res = await run('getParameter', { name: '/app/none' });
    expect(res.body.response).toEqual({ name: 'ParameterNotFound', message: 'parameter not found: /app/none' });
    const bad = await run('byPath', { path: 'app' });
    expect(bad.body.response.name).toBe('ValidationException');
    expect(bad.body.response.message).toContain('Path: must start with "/"');
  });

  it('pages through getParametersByPath itself, 10 at a time', async () => {
    const before = ssmCalls('GetParametersByPath').length;
    const res = await run('byPath', { path: '/many' });
    const names = res.body.response.ok.Parameters.map((p: { Name: string }) => p.Name);
    expect(names).toHaveLength(25);
    expect(names[0]).toBe('/many/p00');
    expect(names[24]).toBe('/many/p24');
    expect(ssmCalls('GetParametersByPath').length - before).toBe(3);
  });

  it('lists only direct children, or every descendant with Recursive', async () => {
    const names = async (recursive: boolean) =>
      (await run('byPath', { path: '/app', recursive })).body.response.ok.Parameters.map(
        (p: { Name: string }) => p.Name,
      );
    expect(await names(false)).toEqual(['/app/api-key', '/app/name']);
    expect(await names(true)).toEqual([
      '/app/api-key',
      '/app/db/host',
      '/app/db/password',
      '/app/db/replicas',
      '/app/deep/er/x',
      '/app/name',
    ]);
  });

  it('refuses a path holding more than 100 parameters after 10 pages, with LimitExceededException', async () => {
    const before = ssmCalls('GetParametersByPath').length;
    const res = await run('byPath', { path: '/huge' });
    expect(res.body.response.name).toBe('LimitExceededException');
    expect(res.body.response.message).toContain('more than 100 parameters');
    expect(ssmCalls('GetParametersByPath').length - before).toBe(10);
  });

  it('refuses a parameter outside allowedParameters before asking the store, and an empty list refuses all', async () => {
    const before = ssmCalls('GetParameter').length;
    const refused = await run('onlyApp', { name: '/app/api-key' });
    expect(refused.body.response).toEqual({
      name: 'AccessDeniedException',
      message:
        'workflow "onlyApp" may not read the parameter "/app/api-key": it is not in the workflow\'s allowedParameters',
    });
    expect((await run('none', { name: '/app/name' })).body.response.name).toBe('AccessDeniedException');
    expect(ssmCalls('GetParameter').length).toBe(before);
    const allowed = await run('onlyApp', { name: '/app/name' });
    expect(allowed.body.response.ok.Parameter.Value).toBe('orders');
    // A version selector picks a version of the same parameter: matched without it.
    expect((await run('onlyApp', { name: '/app/api-key:1' })).body.response.name).toBe('AccessDeniedException');
  });

  it('lists a path only when a pattern reaches under it, and leaves out what the patterns do not allow', async () => {
    const listed = await run('onlyApp', { path: '/app' }, true);
    expect(listed.body.response.ok.Parameters.map((p: { Name: string }) => p.Name)).toEqual([
      '/app/db/host',
      '/app/db/password',
      '/app/db/replicas',
      '/app/name',
    ]);
    expect(listed.text).not.toContain(apiKey);
    const refused = await run('onlyApp', { path: '/many' });
    expect(refused.body.response.name).toBe('AccessDeniedException');
    expect(refused.body.response.message).toContain('may not list the path "/many"');
  });

  it('queries a database whose credentials the shipped getSsmParameter workflow reads from a SecureString', async () => {
    const res = await query(t, 'orders-ssm', 'SELECT name FROM widgets ORDER BY id');
    expect(res.status).toBe(200);
    expect(res.body.rowCount).toBe(3);
    const preview = await run('getSsmParameter', { parameterName: '/credflow/test/orders' });
    expect(preview.body.response).toMatchObject({ host: db.host, username: db.username, password: MASK });
    const outside = await run('getSsmParameter', { parameterName: '/app/db/password' });
    expect(outside.status).toBe(502);
    expect(outside.text).toContain('allowedParameters');
    expect(JSON.stringify(preview.body.steps)).toContain(
      'read parameter /credflow/test/orders, version 1 (SecureString)',
    );
  });

  it('counts each call in credflow_bridge_calls_total by store ssm, operation and outcome', async () => {
    const text = (await t.request('GET', '/metrics')).text;
    const count = (operation: string, outcome: string) =>
      Number(
        new RegExp(
          `^credflow_bridge_calls_total\\{store="ssm",operation="${operation}",outcome="${outcome}"\\} (\\d+)`,
          'm',
        ).exec(text)?.[1] ?? 0,
      );
    expect(count('GetParameter', 'ok')).toBeGreaterThan(0);
    expect(count('GetParameter', 'ParameterNotFound')).toBe(1);
    expect(count('GetParameter', 'AccessDeniedException')).toBeGreaterThanOrEqual(3);
    expect(count('GetParametersByPath', 'ok')).toBeGreaterThan(0);
    expect(count('GetParametersByPath', 'LimitExceededException')).toBe(1);
    expect(count('GetParametersByPath', 'ValidationException')).toBe(1);
  });

  it('has the SecureString values in the leak search that close() runs', () => {
    expect(t.storedValues()).toEqual(expect.arrayContaining([dbPassword, apiKey]));
    expect(t.storedValues()).not.toContain('db.internal');
  });
});
