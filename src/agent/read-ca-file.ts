import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CredflowError } from '../errors.js';

const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * The PEM text of a CA file a setting names (VAULT_CACERT, CREDFLOW_HTTP_BRIDGE_CA_FILE), read once
 * at start-up. A file that cannot be read, holds no certificate or holds one that does not parse is
 * a CONFIG_INVALID error naming the variable: found at start, not on the first call that needs it.
 */
export async function readCaFile(variable: string, file: string): Promise<string> {
  const problem = (why: string, cause?: unknown) =>
    new CredflowError('CONFIG_INVALID', `environment variable ${variable}: ${why}`, { cause });
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw problem(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, error);
  }
  const blocks = text.match(pemBlock) ?? [];
  if (blocks.length === 0) throw problem(`${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw problem(`${file}: certificate ${i + 1} of ${blocks.length} is not a valid X.509 certificate`, error);
    }
  });
  return text;
}
