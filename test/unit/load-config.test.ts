import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import {
  jsonSchemas,
  loadConfig,
  loadValidConfig,
  maxWorkflowSteps,
  readAgentSettings,
  readAppEnv,
} from '../../src/config/index.js';
import type { LoadedConfig } from '../../src/config/index.js';
import { expandEnv } from '../../src/config/expand-env.js';
import { CredflowError } from '../../src/errors.js';
import { postgresIntegration, secretsWorkflow, writeConfigDir } from '../support/config-dir.js';
import type { ConfigFiles } from '../support/config-dir.js';
import { errorOf } from '../support/error-of.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Loads a throw-away config folder; the folder is gone by the time the result is inspected. */
async function load(files: ConfigFiles, env: NodeJS.ProcessEnv = {}): Promise<LoadedConfig> {
  const folder = await writeConfigDir(files);
  try {
    return await loadConfig(folder.dir, env);
  } finally {
    await folder.remove();
  }
}

/** The shipped workflow plus one integration `x` built from the shipped integration shape. */
function withIntegration(overrides: Record<string, unknown>): ConfigFiles {
  return {
    workflows: { getSecrets: secretsWorkflow() },
    integrations: { x: { ...postgresIntegration('x'), ...overrides } },
  };
}

function workflowWithSteps(name: string, steps: unknown[]): Record<string, unknown> {
  return { name, steps };
}

async function rejection(promise: Promise<unknown>): Promise<CredflowError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CredflowError) return error;
    throw error;
  }
  throw new Error('expected a CredflowError');
}

describe('loadConfig on the shipped example folder', () => {
  it('loads the shipped workflows and integrations (Secrets Manager, SSM, STS, Vault KV and database, HTTP) with zero problems', async () => {
    const config = await loadConfig(repoRoot, {});
    expect(config.problems).toEqual([]);
    expect([...config.workflows.keys()].sort()).toEqual([
      'getDopplerSecrets',
      'getSecrets',
      'getSecretsAsRole',
      'getSsmParameter',
      'getVaultDatabaseCreds',
      'getVaultSecret',
    ]);
    expect(config.workflows.get('getDopplerSecrets')?.allowedHosts).toEqual(['https://api.doppler.com']);
    expect([...config.integrations.keys()].sort()).toEqual([
      'demo-postgres',
      'demo-postgres-role',
      'demo-postgres-ssm',
      'demo-postgres-vault',
      'demo-postgres-vault-dynamic',
    ]);
    const step = config.workflows.get('getSecrets')?.steps[0];
    expect(step?.source).toBe(path.join('workflows', 'getSecrets.js'));
    expect(step?.code).toContain('aws.secretsManager.getSecretValue');
  });
});

describe('loadConfig reports a bad file by name and JSON path', () => {
  it('names the file of malformed JSON', async () => {
    const config = await load({
      workflows: { getSecrets: secretsWorkflow() },
      integrations: { broken: '{ "name": "broken",' },
    });
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]).toMatch(/^integrations\/broken\.json: (line \d+, column \d+|\(root\)): not valid JSON$/);
    expect(config.integrations.size).toBe(0);
  });

  it('names the file and the JSON path of a wrongly typed field', async () => {
    const config = await load(withIntegration({ connection: { host: 'db', port: true } }));
    expect(config.problems).toEqual([expect.stringMatching(/^integrations\/x\.json: connection\.port: \S/)]);
    expect(config.integrations.has('x')).toBe(false);
  });

  it('names an unknown field, so a typo such as "conection" is caught', async () => {
    const { connection, ...rest } = postgresIntegration('x');
    const config = await load({
      workflows: { getSecrets: secretsWorkflow() },
      integrations: { x: { ...rest, conection: connection } },
    });
    expect(config.problems).toContainEqual(expect.stringMatching(/^integrations\/x\.json: .*"conection"/));
    expect(config.problems).toContainEqual(expect.stringMatching(/^integrations\/x\.json: connection: /));
  });

  it('rejects a kind other than postgres at the kind field', async () => {
    const config = await load(withIntegration({ kind: 'mysql' }));
    expect(config.problems).toEqual([expect.stringMatching(/^integrations\/x\.json: kind: .*postgres/)]);
  });

  it('requires the name to match the file name', async () => {
    const config = await load({
      workflows: { getSecrets: secretsWorkflow() },
      integrations: { x: postgresIntegration('y') },
    });
    expect(config.problems).toEqual(['integrations/x.json: name: "y" must match the file name "x"']);
    expect(config.integrations.size).toBe(0);
  });

  it('rejects an integration whose workflow does not exist', async () => {
    const config = await load({ workflows: {}, integrations: { x: postgresIntegration('x', 'nope') } });
    expect(config.problems).toEqual([
      'integrations/x.json: fetchCredentialsDynamically.workflow: workflow nope not found (workflows: none)',
    ]);
  });
});

describe('loadConfig rejects what would only fail at run time (issue 10, section 8)', () => {
  it('rejects a literal port out of range with the connect-time schema, naming file and JSON path', async () => {
    const config = await load(
      withIntegration({
        connection: { host: 'db', port: 99999, database: 'app', user: '<<getSecrets.response.username>>' },
      }),
    );
    expect(config.problems).toEqual(['integrations/x.json: connection.port: Too big: expected number to be <=65535']);
  });

  it('rejects a literal port that is not a number', async () => {
    const config = await load(withIntegration({ connection: { host: 'db', port: 'abc', database: 'app', user: 'u' } }));
    expect(config.problems).toEqual(['integrations/x.json: connection.port: must be a port number']);
  });

  it('rejects a connection with no database and leaves templated fields to connect time', async () => {
    const config = await load(
      withIntegration({
        connection: { host: '<<getSecrets.response.host>>', port: '<<getSecrets.response.port>>', user: 'u' },
      }),
    );
    expect(config.problems).toEqual(['integrations/x.json: connection.database: must be a string (database name)']);
  });

  it('rejects an unclosed << without quoting the text around it', async () => {
    const config = await load(
      withIntegration({
        connection: { host: 'db', database: 'app', user: 'u', password: '<<getSecrets.response.password' },
      }),
    );
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]).toMatch(
      /^integrations\/x\.json: integration "x": connection\.password: << at character 1 is never closed with >> /,
    );
    expect(config.problems[0]).not.toContain('getSecrets.response.password');
  });

  it('reports a misspelled workflow name as a missing workflow, listing the workflows there are', async () => {
    const config = await load({
      workflows: { getSecrets: secretsWorkflow() },
      integrations: { x: postgresIntegration('x', 'getSecret') },
    });
    expect(config.problems).toEqual([
      'integrations/x.json: fetchCredentialsDynamically.workflow: workflow getSecret not found (workflows: getSecrets)',
    ]);
  });

  it('rejects step code with a syntax error, naming the step and a line and column of its own code', async () => {
    const config = await load({
      workflows: {
        getSecrets: workflowWithSteps('getSecrets', [
          { name: 'ok', code: 'return 1;' },
          { name: 'broken', code: 'const a = 1;\nreturn aws.getSecret("x";' },
        ]),
      },
    });
    expect(config.problems).toEqual([
      'workflows/getSecrets.json: steps[1].code: step "broken" does not compile: line 2, column 22: missing ) after argument list',
    ]);
    expect(config.workflows.size).toBe(0);
  });

  it('says an unclosed brace in step code ends the code, not that a ) was unexpected', async () => {
    const config = await load({ workflows: { w: workflowWithSteps('w', [{ name: 'open', code: 'return { a: 1' }]) } });
    expect(config.problems).toEqual([
      'workflows/w.json: steps[0].code: step "open" does not compile: unexpected end of the code (an unclosed bracket, brace, parenthesis or string?)',
    ]);
  });

  it('rejects step code that closes the function it is the body of', async () => {
    const config = await load({
      workflows: { w: workflowWithSteps('w', [{ name: 'breakout', code: 'return 1 }); (async function () {' }]) },
    });
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]).toMatch(
      /^workflows\/w\.json: steps\[0\]\.code: step "breakout" does not compile: .*the code must be the body of one function/,
    );
  });

  it('rejects step code that redeclares what the sandbox passes in (params) or an earlier step', async () => {
    const config = await load({
      workflows: {
        w: workflowWithSteps('w', [
          { name: 'first', code: 'return 1;' },
          { name: 'second', code: 'let first = 2;\nlet params = 1; return first;' },
        ]),
      },
    });
    expect(config.problems).toEqual([
      'workflows/w.json: steps[1].code: step "second" does not compile: line 1, column 5: Identifier \'first\' has already been declared',
    ]);
  });

  it('rejects a static import and import.meta, which the sandbox could never run', async () => {
    const config = await load({
      workflows: {
        a: workflowWithSteps('a', [{ name: 'attempt', code: "import fs from 'fs'; return typeof fs;" }]),
        b: workflowWithSteps('b', [{ name: 'attempt', code: 'return import.meta.url;' }]),
      },
    });
    expect(config.problems).toEqual([
      'workflows/a.json: steps[0].code: step "attempt" does not compile: line 1, column 1: Cannot use import statement outside a module',
      'workflows/b.json: steps[0].code: step "attempt" does not compile: line 1, column 15: Cannot use \'import.meta\' outside a module',
    ]);
  });

  it('names the step file of a codeFile step that does not compile', async () => {
    const config = await load({
      workflows: { w: workflowWithSteps('w', [{ name: 'fetch', codeFile: 'w.js' }]) },
      files: { 'workflows/w.js': 'return (' },
    });
    expect(config.problems).toEqual([
      `workflows/w.json: steps[0].codeFile (${path.join('workflows', 'w.js')}): step "fetch" does not compile: unexpected end of the code (an unclosed bracket, brace, parenthesis or string?)`,
    ]);
  });

  it("says an integration's workflow is invalid rather than missing when its file failed to load", async () => {
    const config = await load({
      workflows: { getSecrets: workflowWithSteps('getSecrets', [{ name: 'a', code: 'return (' }]) },
      integrations: { x: postgresIntegration('x') },
    });
    expect(config.problems).toContain(
      'integrations/x.json: fetchCredentialsDynamically.workflow: workflow getSecrets is invalid (see its problems)',
    );
  });
});

describe('loadConfig checks templates when the config loads', () => {
  it('rejects a template rooted at something other than the workflow, credentials or Env', async () => {
    const config = await load(withIntegration({ connection: { host: '<<other.response.host>>' } }));
    expect(config.problems).toEqual([
      'integrations/x.json: connection: template <<other.response.host>> must start with "getSecrets", "credentials" or "Env"',
    ]);
  });

  it('rejects a workflow template when fetchCredentialsDynamically is off', async () => {
    const config = await load(
      withIntegration({
        fetchCredentialsDynamically: { enabled: false, workflow: 'getSecrets' },
        connection: { host: '<<getSecrets.response.host>>', user: '<<Env.db_user>>' },
      }),
    );
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]).toMatch(
      /^integrations\/x\.json: connection: template <<getSecrets\.response\.host>> must start with "Env"/,
    );
  });

  it('names the file and field of a template syntax error', async () => {
    const config = await load(withIntegration({ connection: { host: '<<#if getSecrets>>' } }));
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]).toMatch(
      /^integrations\/x\.json: .*connection\.host: <<#if getSecrets>> is not a valid template expression/,
    );
  });
});

describe('${VAR} expansion', () => {
  const env = { DB_HOST: 'db.internal', CA_PEM: '-----BEGIN CERTIFICATE-----', DB_NAME: 'orders' };

  it('fills integration string fields from the environment, nested ones too, keeping the written document', async () => {
    const config = await load(
      withIntegration({
        description: 'orders in ${DB_NAME}',
        connection: { host: '${DB_HOST}', database: 'app_${DB_NAME}', user: 'u', ssl: { ca: '${CA_PEM}' } },
      }),
      env,
    );
    expect(config.problems).toEqual([]);
    const integration = config.integrations.get('x');
    expect(integration?.connection).toEqual({
      host: 'db.internal',
      database: 'app_orders',
      user: 'u',
      ssl: { ca: '-----BEGIN CERTIFICATE-----' },
    });
    expect(integration?.description).toBe('orders in orders');
    expect(integration?.written).toMatchObject({ connection: { host: '${DB_HOST}' } });
  });

  it('renders a value from the environment byte for byte, never reading template syntax in it', async () => {
    const secretish = 'Zq9<<Env.other>>x{{y}}<<hunter2>>';
    const config = await load(
      withIntegration({ connection: { host: 'db', database: 'app', user: 'u', password: 'pre-${DB_PASSWORD}' } }),
      { ...env, DB_PASSWORD: secretish },
    );
    expect(config.problems).toEqual([]);
    const rendered = config.integrations.get('x')?.templates.render({ Env: { other: 'SUBST' } });
    expect(rendered?.password).toBe(`pre-${secretish}`);
    expect(config.integrations.get('x')?.templates.paths).toEqual([]);
  });

  it('treats an unset variable as an error naming file and field, never as an empty string', async () => {
    const config = await load(withIntegration({ connection: { host: 'db', password: 'pw-${DB_PASSWORD}' } }), env);
    expect(config.problems).toEqual([
      'integrations/x.json: connection.password: environment variable DB_PASSWORD is not set',
    ]);
    expect(config.integrations.has('x')).toBe(false);
  });

  it('treats a variable set to the empty string as set', () => {
    expect(expandEnv({ a: 'x${EMPTY}y' }, 'f.json', { EMPTY: '' })).toEqual({ a: 'xy' });
  });

  it('keeps $${VAR} as a literal ${VAR}', async () => {
    const config = await load(
      withIntegration({ connection: { host: 'db', database: 'app', user: 'u', password: 'a$${DB_HOST}b' } }),
      env,
    );
    expect(config.problems).toEqual([]);
    expect(config.integrations.get('x')?.connection.password).toBe('a${DB_HOST}b');
  });

  it('names array positions in the path of an unset variable', () => {
    const error = errorOf(() => expandEnv({ hosts: ['a', '${NOPE}'] }, 'integrations/y.json', {}));
    expect(error.code).toBe('ENV_VAR_MISSING');
    expect(error.message).toBe('integrations/y.json: hosts[1]: environment variable NOPE is not set');
  });

  it('leaves ${...} inside step code alone (JavaScript template literals) but expands workflow params', async () => {
    const code = 'const who = params.region; return `in ${who}`;';
    const config = await load(
      {
        workflows: { wf: { name: 'wf', params: { region: '${REGION}' }, steps: [{ name: 'a', code }] } },
      },
      { REGION: 'eu-west-1' },
    );
    expect(config.problems).toEqual([]);
    const workflow = config.workflows.get('wf');
    expect(workflow?.steps[0]?.code).toBe(code);
    expect(workflow?.params).toEqual({ region: 'eu-west-1' });
  });
});

describe('workflow steps', () => {
  it('reads codeFile from beside the workflow', async () => {
    const config = await load({
      workflows: { wf: workflowWithSteps('wf', [{ name: 'fetch', codeFile: 'lib/fetch.js' }]) },
      files: { 'workflows/lib/fetch.js': 'return `${params.x}`;' },
    });
    expect(config.problems).toEqual([]);
    expect(config.workflows.get('wf')?.steps[0]).toEqual({
      name: 'fetch',
      code: 'return `${params.x}`;',
      source: path.join('workflows', 'lib', 'fetch.js'),
    });
  });

  it('reports a missing codeFile', async () => {
    const config = await load({
      workflows: { wf: workflowWithSteps('wf', [{ name: 'fetch', codeFile: 'missing.js' }]) },
    });
    expect(config.problems).toEqual(['workflows/wf.json: steps[0].codeFile: missing.js: file not found']);
    expect(config.workflows.size).toBe(0);
  });

  it('refuses a codeFile that escapes workflows/ with ../', async () => {
    const config = await load({
      workflows: { wf: workflowWithSteps('wf', [{ name: 'fetch', codeFile: '../outside.js' }]) },
      files: { 'outside.js': 'return 1' },
    });
    expect(config.problems).toEqual([
      'workflows/wf.json: steps[0].codeFile: "../outside.js" must stay inside workflows/',
    ]);
    expect(config.workflows.size).toBe(0);
  });

  it('rejects duplicate step names', async () => {
    const config = await load({
      workflows: {
        wf: workflowWithSteps('wf', [
          { name: 'a', code: 'return 1' },
          { name: 'a', code: 'return 2' },
        ]),
      },
    });
    expect(config.problems).toEqual(['workflows/wf.json: steps[1].name: duplicate step name "a"']);
  });

  it('requires exactly one of code and codeFile', async () => {
    const config = await load({
      workflows: {
        both: workflowWithSteps('both', [{ name: 'a', code: 'return 1', codeFile: 'a.js' }]),
        neither: workflowWithSteps('neither', [{ name: 'a' }]),
      },
      files: { 'workflows/a.js': 'return 1' },
    });
    expect(config.problems).toEqual([
      'workflows/both.json: steps[0]: a step needs exactly one of "code" or "codeFile"',
      'workflows/neither.json: steps[0]: a step needs exactly one of "code" or "codeFile"',
    ]);
  });

  it.each(['params', 'Env', 'context', 'aws', 'console', 'globalThis'])(
    'rejects the reserved step name %s',
    async (name) => {
      const config = await load({ workflows: { wf: workflowWithSteps('wf', [{ name, code: 'return 1' }]) } });
      expect(config.problems).toEqual([
        expect.stringMatching(
          /^workflows\/wf\.json: steps\[0\]\.name: must not be a JavaScript keyword, a built-in global/,
        ),
      ]);
    },
  );

  // Step outputs become globals of later steps: a name that is a keyword, a V8 built-in or one of the
  // sandbox's own globals could not be defined, or would replace something steps rely on.
  it.each(['__cf_anything', 'atob', 'undefined', 'Object', 'JSON', 'class'])(
    'rejects the step name %s, which would shadow a keyword or a global',
    async (name) => {
      const config = await load({
        workflows: {
          wf: workflowWithSteps('wf', [
            { name, code: 'return 1' },
            { name: 'next', code: 'return 2' },
          ]),
        },
      });
      expect(config.problems).toEqual([expect.stringMatching(/^workflows\/wf\.json: steps\[0\]\.name: /)]);
    },
  );
});

describe('loadConfig with several bad files', () => {
  const files: ConfigFiles = {
    workflows: {
      getSecrets: secretsWorkflow(),
      dup: workflowWithSteps('dup', [
        { name: 'a', code: 'return 1' },
        { name: 'a', code: 'return 2' },
      ]),
    },
    integrations: {
      good: postgresIntegration('good'),
      broken: '{',
      port: { ...postgresIntegration('port'), connection: { host: 'db', port: false } },
      orphan: postgresIntegration('orphan', 'missing'),
    },
  };

  it('reports every problem, one line each, and still loads the good files', async () => {
    const config = await load(files);
    expect(config.problems).toHaveLength(4);
    for (const line of config.problems) expect(line).not.toContain('\n');
    for (const file of [
      'workflows/dup.json',
      'integrations/broken.json',
      'integrations/port.json',
      'integrations/orphan.json',
    ]) {
      expect(config.problems.filter((line) => line.startsWith(`${file}: `))).toHaveLength(1);
    }
    expect([...config.workflows.keys()]).toEqual(['getSecrets']);
    expect([...config.integrations.keys()]).toEqual(['good']);
  });

  it('makes loadValidConfig throw CONFIG_INVALID listing them all', async () => {
    const folder = await writeConfigDir(files);
    try {
      const error = await rejection(loadValidConfig(folder.dir, {}));
      expect(error.code).toBe('CONFIG_INVALID');
      const problems = (error.details as { problems: string[] }).problems;
      expect(problems).toHaveLength(4);
      for (const line of problems) expect(error.message).toContain(line);
    } finally {
      await folder.remove();
    }
  });

  it('makes loadValidConfig return the config when there is no problem', async () => {
    const folder = await writeConfigDir({
      workflows: { getSecrets: secretsWorkflow() },
      integrations: { good: postgresIntegration('good') },
    });
    try {
      const config = await loadValidConfig(folder.dir, {});
      expect(config.integrations.get('good')?.templates.paths).toContain('credentials.response.password');
    } finally {
      await folder.remove();
    }
  });
});

describe('readAppEnv', () => {
  it('maps CREDFLOW_AGENT_APP_ENV_* to lower-case names and ignores everything else', () => {
    expect(
      readAppEnv({
        CREDFLOW_AGENT_APP_ENV_AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        CREDFLOW_AGENT_APP_ENV_Region: 'eu-west-1',
        CREDFLOW_AGENT_APP_ENV_: 'no name',
        CREDFLOW_LOG_LEVEL: 'debug',
        AWS_SECRET_ACCESS_KEY: 'not-for-the-sandbox',
      }),
    ).toEqual({ aws_access_key_id: 'AKIDEXAMPLE', region: 'eu-west-1' });
  });
});

describe('readAgentSettings', () => {
  it('falls back to defaults for an empty environment', () => {
    expect(readAgentSettings({})).toEqual({
      port: 8080,
      host: '127.0.0.1',
      apiTokens: [],
      tokensFile: undefined,
      logLevel: 'info',
      sandbox: {
        memoryMb: 64,
        stepTimeoutMs: 5_000,
        runTimeoutMs: 15_000,
        maxResponseBytes: 256 * 1024,
        maxBridgeCalls: 20,
        maxLogBytes: 8192,
        maxLogLines: 200,
        maxRunLogBytes: 256 * 1024,
        maxRunLogLines: 1000,
        prewarm: 1,
        workers: 2,
        concurrency: 4,
        queueMax: 64,
        workerMaxRssMb: 0,
      },
      previewMaxBytes: 1024 * 1024,
      poolMax: 10,
      upstreamMaxConnections: 50,
      connectTimeoutMs: 10_000,
      statementTimeoutMs: 60_000,
      queryMaxRows: 10_000,
      queryMaxBytes: 16 * 1024 * 1024,
      queryMaxMessageBytes: 1024 * 1024,
      cache: { ttlSeconds: 300, maxStaleSeconds: 600, maxEntries: 1000 },
      masker: { maxSecrets: 2048, maxBytes: 262_144 },
      authRetries: 2,
      rotationWaitMs: 5_000,
      rdsIamTokenReuseMs: 600_000,
      http: {
        requestTimeoutMs: 30_000,
        headersTimeoutMs: 10_000,
        keepAliveTimeoutMs: 5_000,
        maxConnections: 256,
        authFailureLimit: 20,
        authFailureWindowMs: 10_000,
        authFailureAddresses: 10_000,
      },
      httpBridge: { maxBytes: 1024 * 1024, timeoutMs: 10_000, allowLoopback: false },
      defaultProfile: 'default',
      profiles: ['default'],
    });
  });

  it('reads numbers and comma-separated tokens from strings', () => {
    const settings = readAgentSettings({
      PORT: '9090',
      CREDFLOW_API_TOKENS: ' first-token-0123456789, ,second-token-abcdefgh ',
      CREDFLOW_SANDBOX_MEMORY_MB: '128',
    });
    expect(settings.port).toBe(9090);
    expect(settings.apiTokens).toEqual(['first-token-0123456789', 'second-token-abcdefgh']);
    expect(settings.sandbox.memoryMb).toBe(128);
  });

  it('names the variable of a bad value', () => {
    const error = errorOf(() => readAgentSettings({ PORT: 'abc', CREDFLOW_LOG_LEVEL: 'loud' }));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toMatch(/^environment variable PORT: /m);
    expect(error.message).toMatch(/^environment variable CREDFLOW_LOG_LEVEL: /m);
  });

  // Issue 19: the same rules as a tokens file's "token", and the token never quoted.
  it('refuses tokens in CREDFLOW_API_TOKENS that a tokens file would refuse, naming the variable and the token by its place', () => {
    const short = errorOf(() => readAgentSettings({ CREDFLOW_API_TOKENS: 'good-token-0123456789,tok-b' }));
    expect(short.code).toBe('CONFIG_INVALID');
    expect(short.message).toBe(
      'environment variable CREDFLOW_API_TOKENS: token 2 of 2 must be at least 16 characters (it has 5)',
    );
    const spaced = errorOf(() => readAgentSettings({ CREDFLOW_API_TOKENS: 'spaced token 0123456789' }));
    expect(spaced.message).toBe(
      'environment variable CREDFLOW_API_TOKENS: token 1 of 1 must be printable ASCII without spaces (letters, digits and punctuation)',
    );
    const long = errorOf(() => readAgentSettings({ CREDFLOW_API_TOKENS: 'x'.repeat(1025) }));
    expect(long.message).toBe('environment variable CREDFLOW_API_TOKENS: token 1 of 1 must be at most 1024 characters');
    for (const e of [short, spaced, long])
      expect(`${e.message}${JSON.stringify(e.details)}`).not.toMatch(/tok-b|spaced token|xxxx/);
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    const error = errorOf(() =>
      readAgentSettings({ CREDFLOW_HTTP_REQUEST_TIMEOUT_MS: '1000', CREDFLOW_HTTP_HEADERS_TIMEOUT_MS: '2000' }),
    );
    expect(error.message).toBe(
      'environment variable CREDFLOW_HTTP_HEADERS_TIMEOUT_MS: must not be more than CREDFLOW_HTTP_REQUEST_TIMEOUT_MS (1000)',
    );
  });

  it('takes a sandbox worker memory bound of 0 (derived) or at least 64 MB', () => {
    expect(readAgentSettings({ CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB: '300' }).sandbox.workerMaxRssMb).toBe(300);
    expect(readAgentSettings({ CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB: '0' }).sandbox.workerMaxRssMb).toBe(0);
    const error = errorOf(() => readAgentSettings({ CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB: '10' }));
    expect(error.message).toBe(
      'environment variable CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB: must be 0 (derived from the other sandbox settings) or at least 64',
    );
  });
});

describe('JSON Schemas', () => {
  // If this fails, regenerate them: npm run build && npm run schemas
  it.each(['integration', 'workflow'] as const)(
    'the committed schemas/%s.schema.json equals jsonSchemas() output',
    async (kind) => {
      const committed = await readFile(path.join(repoRoot, 'schemas', `${kind}.schema.json`), 'utf8');
      expect(committed).toBe(`${JSON.stringify(jsonSchemas()[kind], null, 2)}\n`);
    },
  );

  it.each([
    ['workflows/getSecrets.json', 'workflow'],
    ['integrations/demo-postgres.json', 'integration'],
    ['workflows/getVaultSecret.json', 'workflow'],
    ['integrations/demo-postgres-vault.json', 'integration'],
  ])('%s points its $schema at the %s schema', async (file, kind) => {
    const document = JSON.parse(await readFile(path.join(repoRoot, file), 'utf8')) as { $schema?: string };
    expect(document.$schema).toBeDefined();
    const target = path.resolve(path.dirname(path.join(repoRoot, file)), document.$schema ?? '');
    expect(target).toBe(path.join(repoRoot, 'schemas', `${kind}.schema.json`));
  });
});

describe('step code checks on large input', () => {
  it('checks every step of a folder even after one step is too large to compile in the checker', async () => {
    const huge = `return [${'1,'.repeat(4_000_000)}1];`;
    const config = await load({
      workflows: {
        a: workflowWithSteps('a', [{ name: 'big', code: huge }]),
        b: workflowWithSteps('b', [{ name: 'broken', code: 'return (' }]),
        c: workflowWithSteps('c', [{ name: 'fine', code: 'return 1;' }]),
      },
    });
    expect(config.problems[0]).toBe(
      'workflows/a.json: steps[0].code: step "big" does not compile: the code is too large to compile within the 32 MB the check allows',
    );
    expect(config.problems.filter((p) => p.startsWith('workflows/b.json'))).toHaveLength(1);
    expect(config.workflows.has('c')).toBe(true);
  });
});

describe('the step count of a workflow (issue 19, section 3)', () => {
  const steps = (count: number) => Array.from({ length: count }, (_, i) => ({ name: `s${i}`, code: 'return 1;' }));

  it(`refuses a workflow of ${maxWorkflowSteps + 1} steps, naming the file, the field and the limit`, async () => {
    const config = await load({ workflows: { long: workflowWithSteps('long', steps(maxWorkflowSteps + 1)) } });
    expect(config.problems).toEqual([
      `workflows/long.json: steps: a workflow may have at most ${maxWorkflowSteps} steps`,
    ]);
    expect(config.workflows.has('long')).toBe(false);
  });

  it(`loads a workflow of exactly ${maxWorkflowSteps} steps`, async () => {
    const config = await load({ workflows: { long: workflowWithSteps('long', steps(maxWorkflowSteps)) } });
    expect(config.problems).toEqual([]);
    expect(config.workflows.get('long')?.steps).toHaveLength(maxWorkflowSteps);
  });
});
