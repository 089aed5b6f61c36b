import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  /** The CA's certificate (PEM): what a client trusts (VAULT_CACERT, an integration's ssl.caFile). */
  ca: string;
  /** A key and certificate for 127.0.0.1 (or `subjectAltName`) signed by that CA (a local Vault's, a PostgreSQL server's, an HTTPS store's). */
  key: string;
  cert: string;
}

/**
 * A throw-away CA and a server certificate for 127.0.0.1, made with the openssl command (Node can
 * make keys but not X.509 certificates). `subjectAltName` (openssl's syntax, `DNS:vault.test`)
 * makes the certificate for another name instead.
 */
export async function makeTestCertificates(subjectAltName = 'IP:127.0.0.1'): Promise<TestCertificates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'credflow-certs-'));
  const at = (name: string) => path.join(dir, name);
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=credflow test CA',
      '-keyout',
      at('ca.key'),
      '-out',
      at('ca.pem'),
    ]);
    await run('openssl', [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      at('server.key'),
      '-out',
      at('server.csr'),
    ]);
    await writeFile(at('ext.cnf'), `subjectAltName = ${subjectAltName}\n`);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      at('server.csr'),
      '-CA',
      at('ca.pem'),
      '-CAkey',
      at('ca.key'),
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      at('ext.cnf'),
      '-out',
      at('server.pem'),
    ]);
    const [ca, key, cert] = await Promise.all(
      ['ca.pem', 'server.key', 'server.pem'].map((f) => readFile(at(f), 'utf8')),
    );
    return { ca: ca ?? '', key: key ?? '', cert: cert ?? '' };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
