import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, loadValidConfig, parseResolvedConnection, type LoadedConfig } from '../../src/config/index.js';
import { CredflowError } from '../../src/errors.js';
import { writeConfigDir, type ConfigFiles } from '../support/config-dir.js';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates.js';

const fields = { host: 'db.example', port: 5432, database: 'orders', user: 'app' };

/** A folder with one integration `x` of `connection`, and `files` beside it. */
function folderOf(connection: Record<string, unknown>, files: Record<string, string> = {}): ConfigFiles {
  return { integrations: { x: { name: 'x', kind: 'postgres', connection } }, files };
}

async function load(files: ConfigFiles, env: NodeJS.ProcessEnv = {}): Promise<LoadedConfig> {
  const folder = await writeConfigDir(files);
  try {
    return await loadConfig(folder.dir, env);
  } finally {
    await folder.remove();
  }
}

describe('connection.ssl.caFile', () => {
  let certs: TestCertificates;
  let other: TestCertificates;

  beforeAll(async () => {
    [certs, other] = await Promise.all([makeTestCertificates(), makeTestCertificates()]);
  });

  it('reads the PEM file relative to the config folder and connects with its certificates as ssl.ca', async () => {
    const bundle = `# a comment, as bundles have\n${certs.ca}\n${other.ca}`;
    const config = await load(
      folderOf({ ...fields, ssl: { caFile: 'certs/ca.pem' }, auth: { type: 'rds-iam' } }, { 'certs/ca.pem': bundle }),
    );
    expect(config.problems).toEqual([]);
    const integration = config.integrations.get('x');
    const pem = `${certs.ca.trim()}\n${other.ca.trim()}\n`;
    expect(integration?.caFile).toEqual({ path: 'certs/ca.pem', pem });
    expect(integration?.connection.ssl).toEqual({ ca: pem });
    // The file as written still names the file, for display.
    expect(integration?.written).toMatchObject({ connection: { ssl: { caFile: 'certs/ca.pem' } } });
    const rendered = parseResolvedConnection(integration?.templates.render({ Env: {} }) ?? {});
    expect(rendered.success && rendered.data.ssl).toEqual({ rejectUnauthorized: true, ca: pem });
  });

  it('takes an absolute path, and a path from ${VAR}', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-ca-'));
    try {
      const file = path.join(dir, 'rds-ca.pem');
      await writeFile(file, certs.ca);
      const absolute = await load(folderOf({ ...fields, ssl: { caFile: file } }));
      expect(absolute.problems).toEqual([]);
      const fromEnv = await load(folderOf({ ...fields, ssl: { caFile: '${RDS_CA_FILE}' } }), { RDS_CA_FILE: file });
      expect(fromEnv.problems).toEqual([]);
      expect(fromEnv.integrations.get('x')?.caFile?.pem).toBe(`${certs.ca.trim()}\n`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names the file, the field and the path of a CA file that is missing, a folder, not PEM, or a damaged certificate', async () => {
    const damaged = certs.ca.replace(/^(-----BEGIN CERTIFICATE-----\n)(.{10})/, '$1AAAAAAAAAA');
    const cases: [string, Record<string, string>, RegExp][] = [
      ['certs/none.pem', {}, /: file not found$/],
      ['certs', { 'certs/ca.pem': certs.ca }, /: not a regular file$/],
      ['certs/ca.pem', { 'certs/ca.pem': certs.key }, /: holds no PEM certificate/],
      ['certs/ca.pem', { 'certs/ca.pem': damaged }, /: certificate 1 of 1 is not a valid certificate: /],
    ];
    for (const [caFile, files, reason] of cases) {
      const config = await load(folderOf({ ...fields, ssl: { caFile } }, files));
      expect(config.problems).toHaveLength(1);
      const [problem] = config.problems;
      expect(problem).toMatch(
        new RegExp(`^integrations/x\\.json: connection\\.ssl\\.caFile: ${caFile} \\(/.*/${caFile}\\): `),
      );
      expect(problem).toMatch(reason);
      expect(config.integrations.has('x')).toBe(false);
    }
  });

  it('makes loadValidConfig throw CONFIG_INVALID for a CA file that cannot be used', async () => {
    const folder = await writeConfigDir(folderOf({ ...fields, ssl: { caFile: 'certs/none.pem' } }));
    try {
      const error = await loadValidConfig(folder.dir, {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CredflowError);
      expect((error as CredflowError).code).toBe('CONFIG_INVALID');
      expect((error as CredflowError).message).toMatch(
        /integrations\/x\.json: connection\.ssl\.caFile: certs\/none\.pem/,
      );
    } finally {
      await folder.remove();
    }
  });

  it('refuses ca and caFile together, an empty caFile and a templated one, naming the field', async () => {
    const files = { 'certs/ca.pem': certs.ca };
    const both = await load(folderOf({ ...fields, ssl: { ca: certs.ca, caFile: 'certs/ca.pem' } }, files));
    expect(both.problems).toEqual([
      'integrations/x.json: connection.ssl.caFile: give either ssl.ca (PEM text) or ssl.caFile (a PEM file), not both',
    ]);
    const empty = await load(folderOf({ ...fields, ssl: { caFile: ' ' } }));
    expect(empty.problems).toEqual([
      expect.stringMatching(/^integrations\/x\.json: connection\.ssl\.caFile: must be the path/),
    ]);
    const templated = await load(folderOf({ ...fields, ssl: { caFile: '<<Env.ca_file>>' } }));
    expect(templated.problems).toEqual([
      expect.stringMatching(/^integrations\/x\.json: connection\.ssl\.caFile: must be a path, not a <<template>>/),
    ]);
  });

  it('keeps the rds-iam rules: a caFile with rejectUnauthorized false is refused at ssl', async () => {
    const config = await load(
      folderOf(
        { ...fields, ssl: { caFile: 'certs/ca.pem', rejectUnauthorized: false }, auth: { type: 'rds-iam' } },
        { 'certs/ca.pem': certs.ca },
      ),
    );
    expect(config.problems).toEqual([
      expect.stringMatching(
        /^integrations\/x\.json: connection\.ssl: auth "rds-iam" needs a verified server certificate/,
      ),
    ]);
  });
});
