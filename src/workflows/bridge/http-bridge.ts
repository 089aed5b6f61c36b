import type { Workflow } from '../../config/index.js';
import { CredflowError } from '../../errors.js';
import { isSecretKey, type SecretMasker } from '../../masking/index.js';
import { BridgeError } from '../../sandbox/index.js';
import { compileAllowedHosts, httpFetchArgsSchema, type HostAllowlist, type HttpRequest } from '../../secrets/index.js';
import type { StoreBridge } from './bridge-deps.js';
import { learnSecret } from './learn-secret.js';
import { parseBridgeArgs } from './parse-bridge-args.js';

const allowlists = new WeakMap<Workflow, HostAllowlist>();
const allowlistOf = (workflow: Workflow): HostAllowlist => {
  let found = allowlists.get(workflow);
  if (!found) allowlists.set(workflow, (found = compileAllowedHosts(workflow.allowedHosts)));
  return found;
};

/**
 * What a step sends that is likely a credential, learnt before the request leaves: the values of
 * secret-named headers (`Authorization`, `X-Vault-Token`, `X-Api-Key`), an Authorization value's
 * credential after its scheme (`Bearer <token>`), and the body (a login's secret_id, a client secret).
 */
function learnRequest(masker: SecretMasker, request: HttpRequest): void {
  for (const [name, value] of Object.entries(request.headers)) {
    if (!isSecretKey(name)) continue;
    masker.add(value, false);
    const credential = /^[A-Za-z][A-Za-z0-9-]*\s+(\S.*)$/.exec(value)?.[1];
    if (credential && /authorization/i.test(name)) masker.add(credential, false);
  }
  if (request.body) learnSecret(masker, request.body);
}

/**
 * `http.fetch(url, { method, headers, body })`: only origins in the workflow's allowedHosts,
 * through the address rules (src/secrets/http-gateway); every response body is learnt as a secret.
 */
export const httpBridge: StoreBridge = ({ stores, masker, workflow, deadline }) => ({
  'http.fetch': async (args) => {
    const [url, options] = parseBridgeArgs(httpFetchArgsSchema, args, 'http.fetch', 'TypeError');
    const gateway = stores.http;
    if (!gateway) throw new BridgeError('Error', 'http.fetch: the HTTP bridge is not configured in this agent');
    const request: HttpRequest = {
      url,
      method: options?.method ?? 'GET',
      headers: options?.headers ?? {},
      body: options?.body,
    };
    try {
      learnRequest(masker, request);
    } catch (error) {
      if (error instanceof CredflowError) throw new BridgeError('LimitExceededException', error.message);
      throw error;
    }
    const answer = await gateway.fetch(request, { allowed: allowlistOf(workflow), deadline });
    if (!answer.ok) {
      const message =
        answer.error.name === 'HostNotAllowed'
          ? `workflow "${workflow.name}": ${answer.error.message}`
          : answer.error.message;
      throw new BridgeError(answer.error.name, masker.mask(message));
    }
    try {
      // Every body, whatever its status: a store's error answer may quote what was asked (a token).
      learnSecret(masker, answer.value.body);
    } catch (error) {
      // The masker is full of values cached credentials hold: the step must not see a value the agent could not mask.
      if (error instanceof CredflowError) throw new BridgeError('LimitExceededException', error.message);
      throw new BridgeError('Error', 'http.fetch failed');
    }
    return answer.value;
  },
});
