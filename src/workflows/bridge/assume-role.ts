import type { Workflow } from '../../config/index.js';
import { BridgeError } from '../../sandbox/index.js';
import type { AwsCallIdentity } from '../../secrets/index.js';
import { compileRoleAllowlist, type RoleAllowlist } from '../role-allowlist.js';
import type { BridgeDeps } from './bridge-deps.js';

const allowlists = new WeakMap<Workflow, RoleAllowlist>();
const allowlistOf = (workflow: Workflow): RoleAllowlist => {
  let found = allowlists.get(workflow);
  if (!found) allowlists.set(workflow, (found = compileRoleAllowlist(workflow.allowedRoles)));
  return found;
};

type WithoutRole<T> = Omit<T, 'roleArn' | 'externalId' | 'sessionName'>;

/**
 * Resolves the identity of one AWS bridge call, the same for every AWS store: without `roleArn` the
 * request is passed on unchanged; with one, the workflow's allowedRoles is checked, the role is
 * assumed (or its cached credentials reused) and the request goes on with the temporary credentials
 * in `credentials`. The step never sees them; they are learnt by the run's masker before use, so an
 * error quoting them is masked. Refusals keep STS's error names (AccessDenied, ExpiredToken, ...).
 */
export async function withAssumedRole<T extends AwsCallIdentity>(
  deps: Pick<BridgeDeps, 'stores' | 'masker' | 'workflow'>,
  request: T,
  operation: string,
  errorName = 'InvalidParameterException',
): Promise<WithoutRole<T>> {
  const { roleArn, externalId, sessionName, ...rest } = request;
  if (roleArn === undefined) {
    if (externalId !== undefined || sessionName !== undefined) {
      throw new BridgeError(errorName, `${operation}: externalId and sessionName need roleArn`);
    }
    return rest;
  }
  const { workflow, masker } = deps;
  if (!allowlistOf(workflow)(roleArn)) {
    throw new BridgeError(
      'AccessDenied',
      `workflow "${workflow.name}" may not assume the role "${roleArn}": it is not in the workflow's allowedRoles`,
    );
  }
  const identity = deps.stores.awsIdentity;
  if (!identity) throw new BridgeError('Error', `${operation}: roleArn is not available: the agent has no STS client`);
  const answer = await identity.credentialsFor(request);
  if (!answer.ok) throw new BridgeError(answer.error.name, masker.mask(answer.error.message));
  const credentials = answer.credentials;
  if (credentials) {
    masker.add(credentials.secretAccessKey);
    if (credentials.sessionToken) masker.add(credentials.sessionToken);
  }
  // A copy per call: the SDK adds properties to the credentials object a client is given, and the
  // stores key their clients by these fields.
  return { ...rest, ...(credentials ? { credentials: { ...credentials } } : {}) } as WithoutRole<T>;
}
