import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ConfigFiles {
  workflows?: Record<string, unknown>;
  integrations?: Record<string, unknown>;
  /** Other files, by path relative to the folder (e.g. `workflows/fetch.js`), as text. */
  files?: Record<string, string>;
}

/** Writes a throw-away config folder: `workflows/<name>.json`, `integrations/<name>.json`, extra files. */
export async function writeConfigDir(config: ConfigFiles): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-config-'));
  await mkdir(path.join(dir, 'workflows'));
  await mkdir(path.join(dir, 'integrations'));
  for (const [name, doc] of Object.entries(config.workflows ?? {})) {
    await writeFile(
      path.join(dir, 'workflows', `${name}.json`),
      typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2),
    );
  }
  for (const [name, doc] of Object.entries(config.integrations ?? {})) {
    await writeFile(
      path.join(dir, 'integrations', `${name}.json`),
      typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2),
    );
  }
  for (const [file, text] of Object.entries(config.files ?? {})) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The shipped shape: a getSecrets-like workflow and a postgres integration filled from its response. */
export function secretsWorkflow(name = 'getSecrets', secretName = 'postgresSecrets'): Record<string, unknown> {
  return {
    name,
    params: { secretName, region: 'us-east-1' },
    steps: [
      {
        name: 'fetch',
        code: 'const r = await aws.secretsManager.getSecretValue({ SecretId: params.secretName, region: params.region }); return JSON.parse(r.SecretString);',
      },
    ],
  };
}

export function postgresIntegration(name: string, workflow = 'getSecrets'): Record<string, unknown> {
  return {
    name,
    kind: 'postgres',
    fetchCredentialsDynamically: { enabled: true, workflow },
    connection: {
      host: `<<${workflow}.response.host>>`,
      port: `<<${workflow}.response.port>>`,
      database: `<<${workflow}.response.dbname>>`,
      user: `<<${workflow}.response.username>>`,
      password: `<<credentials.response.password>>`,
    },
  };
}
