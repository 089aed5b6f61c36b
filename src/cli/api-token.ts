import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { CredflowError, messageOf } from '../errors.js';

/** Where the commands that call a running agent may take their API token from. */
export interface TokenSources {
  /** --token: works, but every local user sees it in `ps`. */
  token?: string;
  /** --token-file: the token is the file's first line, trimmed. */
  tokenFile?: string;
}

/**
 * What `Authorization: Bearer <token>` can carry and the agent accepts: printable ASCII, no spaces.
 * Checked here so that fetch never builds an error message that quotes the header, token and all.
 */
const tokenSchema = z.string().regex(/^[\x21-\x7e]{1,4096}$/);

/** Group and others may not read, write or run a token file, as ssh requires of a private key. */
const notOwnerOnly = 0o077;

/** Checks a token without ever quoting it: errors name only where it came from. */
function checked(token: string, from: string): string {
  if (!tokenSchema.safeParse(token).success) {
    throw new CredflowError(
      'BAD_REQUEST',
      `the API token from ${from} is not usable: a token is printable ASCII without spaces, at most 4096 characters`,
    );
  }
  return token;
}

/** Enough for the first line of any usable token; the rest of the file is not read. */
const maxRead = 8192;

/**
 * The first line of the file, trimmed. The checks and the read go through one open handle, so the
 * file checked is the file read; O_NONBLOCK keeps a FIFO from hanging the open.
 */
async function readTokenFile(file: string): Promise<string> {
  const where = `--token-file ${file}`;
  let text: string;
  let handle: FileHandle | undefined;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) throw new CredflowError('BAD_REQUEST', `cannot read ${where}: not a file`);
    if (process.platform !== 'win32' && (info.mode & notOwnerOnly) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(3, '0');
      throw new CredflowError(
        'BAD_REQUEST',
        `${where} is accessible to group or others (mode ${mode}), so the token is not used; run chmod 600 ${file}`,
      );
    }
    const buffer = Buffer.alloc(maxRead);
    const { bytesRead } = await handle.read(buffer, 0, maxRead, 0);
    text = buffer.subarray(0, bytesRead).toString('utf8');
  } catch (error) {
    if (error instanceof CredflowError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : messageOf(error);
    throw new CredflowError('BAD_REQUEST', `cannot read ${where}: ${why}`);
  } finally {
    await handle?.close();
  }
  const token = (text.split('\n', 1)[0] ?? '').trim();
  if (token === '')
    throw new CredflowError('BAD_REQUEST', `${where}: the first line is empty; write the API token on it`);
  return checked(token, where);
}

/**
 * The API token for a call to a running agent: --token, else --token-file, else CREDFLOW_TOKEN, else
 * the first of CREDFLOW_API_TOKENS (the agent's own setting, when the CLI shares its environment).
 */
export async function resolveApiToken(sources: TokenSources, env: NodeJS.ProcessEnv): Promise<string> {
  if (sources.token !== undefined) return checked(sources.token, '--token');
  if (sources.tokenFile !== undefined) return readTokenFile(sources.tokenFile);
  if (env.CREDFLOW_TOKEN) return checked(env.CREDFLOW_TOKEN.trim(), 'CREDFLOW_TOKEN');
  const first = env.CREDFLOW_API_TOKENS?.split(',')[0]?.trim();
  if (first) return checked(first, 'CREDFLOW_API_TOKENS');
  throw new CredflowError(
    'UNAUTHORIZED',
    'no API token: set CREDFLOW_TOKEN or pass --token-file <path> (or --token, which other local users can see in ps)',
  );
}
