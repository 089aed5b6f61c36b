import { afterEach, describe, expect, it } from 'vitest';
import { postgresIntegration, secretsWorkflow, writeConfigDir, type ConfigFiles } from '../support/config-dir.js';
import { runCli, type CliResult } from '../support/run-cli.js';

const removals: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const remove of removals.splice(0)) await remove();
});

/** `credflow validate --dir <a folder holding files>`, run as a user would (the real CLI from dist/). */
async function validate(files: ConfigFiles): Promise<CliResult> {
  const folder = await writeConfigDir(files);
  removals.push(folder.remove);
  return runCli(['validate', '--dir', folder.dir], { env: { PATH: process.env.PATH, HOME: process.env.HOME } });
}

/** The shipped workflow and one integration `orders` with the given connection. */
const withConnection = (connection: Record<string, unknown>): ConfigFiles => ({
  workflows: { getSecrets: secretsWorkflow() },
  integrations: { orders: { ...postgresIntegration('orders'), connection } },
});

describe('credflow validate catches what would otherwise fail only at run time (issue 10, section 8)', () => {
  it('rejects a literal port of 99999, naming file, JSON path and cause', async () => {
    const run = await validate(
      withConnection({ host: 'db', port: 99999, database: 'app', user: '<<getSecrets.response.username>>' }),
    );
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('integrations/orders.json: connection.port: Too big: expected number to be <=65535');
  });

  it('rejects a literal port of "abc"', async () => {
    const run = await validate(withConnection({ host: 'db', port: 'abc', database: 'app', user: 'u' }));
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('integrations/orders.json: connection.port: must be a port number');
  });

  it('rejects a connection without a database', async () => {
    const run = await validate(
      withConnection({ host: '<<getSecrets.response.host>>', user: '<<getSecrets.response.username>>' }),
    );
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('integrations/orders.json: connection.database: must be a string (database name)');
  });

  it('rejects an unclosed template instead of sending it as a literal password', async () => {
    const run = await validate(
      withConnection({
        ...(postgresIntegration('orders').connection as object),
        password: '<<getSecrets.response.password',
      }),
    );
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      'integrations/orders.json: integration "orders": connection.password: << at character 1 is never closed with >> (a value that must hold "<<" can be given as ${VAR})',
    );
  });

  it('rejects step code with a syntax error, naming the step and a position in its own code', async () => {
    const workflow = {
      name: 'getSecrets',
      steps: [
        {
          name: 'fetch',
          code: 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName };\nreturn r;',
        },
      ],
    };
    const run = await validate({ workflows: { getSecrets: workflow } });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      'workflows/getSecrets.json: steps[0].code: step "fetch" does not compile: line 1, column 81: missing ) after argument list',
    );
  });

  it('rejects a workflow of more steps than a workflow may have, naming the file and the field (issue 19, section 3)', async () => {
    const steps = Array.from({ length: 51 }, (_, i) => ({ name: `s${i}`, code: 'return 1;' }));
    const run = await validate({ workflows: { long: { name: 'long', steps } } });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('workflows/long.json: steps: a workflow may have at most 50 steps');
  });

  it('reports a misspelled workflow name as a missing workflow, not as a bad template root', async () => {
    const run = await validate({
      workflows: { getSecrets: secretsWorkflow() },
      integrations: { orders: postgresIntegration('orders', 'getSecret') },
    });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(
      'integrations/orders.json: fetchCredentialsDynamically.workflow: workflow getSecret not found (workflows: getSecrets)',
    );
  });

  it('still accepts a folder with none of these problems', async () => {
    const run = await validate({
      workflows: { getSecrets: secretsWorkflow() },
      integrations: { orders: postgresIntegration('orders') },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('warns of a step calling an unknown bridge function, naming file, step and path, and still exits 0 (issue 14)', async () => {
    const workflow = {
      name: 'getSecrets',
      steps: [
        {
          name: 'fetch',
          code: 'const r = await aws.secretsManager.getSecret({ SecretId: params.secretName });\nreturn JSON.parse(r.SecretString);',
        },
      ],
    };
    const run = await validate({
      workflows: { getSecrets: workflow },
      integrations: { orders: postgresIntegration('orders') },
    });
    expect(run.stderr.trim()).toBe(
      'warning: workflows/getSecrets.json: steps[0].code: step "fetch", line 1: aws.secretsManager.getSecret is not a bridge function (did you mean aws.secretsManager.getSecretValue?)',
    );
    expect(run.stdout).toMatch(/^ok: 1 workflow\(s\), 1 integration\(s\) in /);
    expect(run.code).toBe(0);
  });
});
