import { readCertificates } from '../config/index.js';
import { CredflowError } from '../errors.js';

/**
 * The certificates of a CA file a setting names (VAULT_CACERT, CREDFLOW_HTTP_BRIDGE_CA_FILE), read
 * once at start-up. A file that cannot be read, holds no certificate or holds one that does not parse
 * is a CONFIG_INVALID error naming the variable: found at start, not on the first call that needs it.
 */
export async function readCaFile(variable: string, file: string): Promise<string> {
  const read = await readCertificates(file);
  if ('problem' in read)
    throw new CredflowError('CONFIG_INVALID', `environment variable ${variable}: ${file}: ${read.problem}`);
  return read.pem;
}
