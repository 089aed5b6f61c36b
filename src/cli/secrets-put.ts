import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { readEmbeddedState } from '../embedded/index.js';
import { CredflowError, messageOf, truncate } from '../errors.js';
import type { GlobalOptions } from './context.js';
import { printJson, printLine } from './print.js';

/** A secret's value as Secrets Manager stores it: text, or bytes (SecretBinary). */
type SecretInput = { SecretString: string } | { SecretBinary: Uint8Array };

/**
 * The value from --file, else from stdin. Text loses one trailing newline (as `echo` adds); with
 * `binary`, the bytes are kept exactly, for SecretBinary.
 */
async function readValue(file: string | undefined, binary: boolean): Promise<SecretInput> {
  let bytes: Buffer;
  if (file) {
    try {
      bytes = await readFile(file);
    } catch (error) {
      throw new CredflowError('BAD_REQUEST', `cannot read --file ${file}: ${messageOf(error)}`);
    }
  } else {
    if (process.stdin.isTTY)
      throw new CredflowError(
        'BAD_REQUEST',
        'give the secret value on stdin or with --file <path> (not as an argument, where ps would show it)',
      );
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    bytes = Buffer.concat(chunks);
  }
  const empty = () =>
    new CredflowError('BAD_REQUEST', `the secret value ${file ? `in ${file} ` : 'on stdin '}is empty`);
  if (binary) {
    if (bytes.length === 0) throw empty();
    return { SecretBinary: new Uint8Array(bytes) };
  }
  const value = bytes.toString('utf8').replace(/\r?\n$/, '');
  if (value === '') throw empty();
  return { SecretString: value };
}

/**
 * Stores a secret in the running embedded demo's Secrets Manager endpoint (found through
 * .credflow/embedded.json), through the AWS SDK as any client would: CreateSecret, or
 * PutSecretValue when the name exists. Only the demo: against real AWS, use AWS's own tools.
 */
async function putEmbeddedSecret(
  dir: string,
  name: string,
  value: SecretInput,
): Promise<{ created: boolean; versionId: string | undefined }> {
  const embedded = await readEmbeddedState(dir);
  if (!embedded) {
    throw new CredflowError(
      'BAD_REQUEST',
      `secrets put works only with the embedded demo, and no running \`npm start\` agent was found in ${dir} (.credflow/embedded.json); ` +
        'start it with `npm start`, or use `aws secretsmanager create-secret` for real AWS',
    );
  }
  const client = new SecretsManagerClient({
    endpoint: embedded.secretsEndpoint,
    region: embedded.region,
    credentials: embedded.credentials,
  });
  try {
    try {
      const out = await client.send(new CreateSecretCommand({ Name: name, ...value }));
      return { created: true, versionId: out.VersionId };
    } catch (error) {
      if ((error as Error).name !== 'ResourceExistsException') throw error;
      const out = await client.send(new PutSecretValueCommand({ SecretId: name, ...value }));
      return { created: false, versionId: out.VersionId };
    }
  } catch (error) {
    // AWS's messages never hold the value; the name is not secret.
    const e = error as Error;
    throw new CredflowError(
      'BAD_REQUEST',
      `cannot store the secret ${JSON.stringify(truncate(name, 200))} at ${embedded.secretsEndpoint}: ${e.name}: ${e.message}`,
    );
  } finally {
    client.destroy();
  }
}

export function registerSecrets(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const secrets = program
    .command('secrets')
    .description("add secrets to the embedded demo's Secrets Manager endpoint (npm start)");
  secrets
    .command('put')
    .description(
      'create a secret, or store a new current version of it, in the running embedded demo; the value comes from stdin or --file',
    )
    .argument('<name>', 'secret name (SecretId)')
    .option('--file <path>', 'read the value from this file instead of stdin')
    .option('--binary', 'store the bytes as they are, as SecretBinary (a step reads it base64-encoded)')
    .action(async (name: string, opts: { file?: string; binary?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const value = await readValue(opts.file, opts.binary === true);
      const result = await putEmbeddedSecret(path.resolve(g.dir), name, value);
      if (g.json) printJson({ name, ...result });
      else
        printLine(
          `ok: ${result.created ? 'created' : 'stored a new version of'} secret ${name} in the embedded demo (it lives until npm start stops)`,
        );
    });
}
