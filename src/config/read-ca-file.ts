import { X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';

/** The largest CA file read: AWS's global RDS bundle is about 160 KB. */
export const CA_FILE_MAX_BYTES = 1024 * 1024;

const certificateBlock = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/** A CA file as an integration uses it: where it was read, and its certificates as PEM. */
export interface CaFile {
  /** The path as written (after `${VAR}`), relative to the config folder unless absolute. */
  readonly path: string;
  /** Every certificate block of the file, checked to parse, one after another. */
  readonly pem: string;
}

/**
 * Reads `connection.ssl.caFile` of an integration: a PEM file of certificates, relative to the config
 * folder `dir` (an absolute path is taken as it is). Only the certificate blocks are kept, so text
 * around them (a bundle's comments) never reaches a template or pg. Undefined after a problem, which
 * names the integration file, the field and the path.
 */
export async function readCaFile(
  dir: string,
  file: string,
  caFile: string,
  problems: string[],
): Promise<CaFile | undefined> {
  const target = path.resolve(dir, caFile);
  const where = target === caFile ? caFile : `${caFile} (${target})`;
  const read = await readCertificates(target);
  if ('problem' in read) {
    problems.push(`${file}: connection.ssl.caFile: ${where}: ${read.problem}`);
    return undefined;
  }
  return { path: caFile, pem: read.pem };
}

/**
 * The certificates of a PEM file (a CA bundle), each checked to parse, joined; or why not, in words
 * that follow the path (`file not found`, `holds no PEM certificate`...). For `ssl.caFile` and the
 * agent's CA settings (VAULT_CACERT, CREDFLOW_HTTP_BRIDGE_CA_FILE).
 */
export async function readCertificates(target: string): Promise<{ pem: string } | { problem: string }> {
  let text: string;
  try {
    const read = await readBounded(target);
    if (typeof read !== 'string') return read;
    text = read;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'file not found' };
    if (code === 'EACCES') return { problem: 'permission denied' };
    return { problem: messageOf(error) };
  }
  const blocks = text.match(certificateBlock) ?? [];
  if (blocks.length === 0) return { problem: 'holds no PEM certificate (a "-----BEGIN CERTIFICATE-----" block)' };
  for (const [index, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return {
        problem: `certificate ${index + 1} of ${blocks.length} is not a valid certificate: ${messageOf(error)}`,
      };
    }
  }
  return { pem: `${blocks.join('\n')}\n` };
}

/** A regular file's text, up to CA_FILE_MAX_BYTES; a device, pipe or folder is refused before reading. */
async function readBounded(target: string): Promise<string | { problem: string }> {
  // Non-blocking, so opening a named pipe does not wait for a writer; a regular file reads as usual.
  const handle = await open(target, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { problem: 'not a regular file' };
    if (info.size > CA_FILE_MAX_BYTES)
      return { problem: `larger than ${CA_FILE_MAX_BYTES} bytes: not a CA bundle (${info.size} bytes)` };
    const buffer = Buffer.alloc(info.size);
    let filled = 0;
    while (filled < info.size) {
      const { bytesRead } = await handle.read(buffer, filled, info.size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled).toString('utf8');
  } finally {
    await handle.close();
  }
}
