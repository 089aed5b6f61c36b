import path from 'node:path';
import { readEmbeddedState } from '../embedded/index.js';
import { CredflowError, isErrorCode } from '../errors.js';
import { resolveApiToken, type TokenSources } from './api-token.js';

export interface RemoteOptions extends TokenSources {
  url?: string;
  dir: string;
}

/**
 * Calls a running agent's HTTP API, for commands that act on its state (its cache and pools live in
 * that process). The URL comes from --url, CREDFLOW_URL, or the embedded agent started by `npm start`
 * in the same folder; the token as resolveApiToken says.
 */
export async function callAgent(
  options: RemoteOptions,
  method: 'GET' | 'POST',
  route: string,
  body: unknown = {},
): Promise<unknown> {
  const url = options.url ?? process.env.CREDFLOW_URL ?? (await readEmbeddedState(path.resolve(options.dir)))?.agentUrl;
  if (!url) {
    throw new CredflowError(
      'BAD_REQUEST',
      'no running agent to talk to: pass --url (or set CREDFLOW_URL), or start one with npm start in this folder',
    );
  }
  const token = await resolveApiToken(options, process.env);
  let response: Response;
  try {
    response = await fetch(new URL(route, url), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      },
      ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new CredflowError('BAD_REQUEST', `cannot reach the agent at ${url}: ${(error as Error).message}`);
  }
  const answer = (await response.json().catch(() => undefined)) as
    { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined;
  if (!response.ok) {
    const code = isErrorCode(answer?.error?.code) ? answer.error.code : 'INTERNAL';
    throw new CredflowError(
      code,
      answer?.error?.message ?? `the agent answered HTTP ${response.status}`,
      answer?.error?.details ? { details: answer.error.details } : {},
    );
  }
  return answer;
}
