import type { Workflow } from '../../config/index.js';
import type { SecretMasker } from '../../masking/index.js';
import { getParameterRequestSchema, getParametersByPathRequestSchema, type Parameter } from '../../secrets/index.js';
import { compileParameterAllowlist, type ParameterAllowlist } from '../parameter-allowlist.js';
import type { StoreBridge } from './bridge-deps.js';
import { withAssumedRole } from './assume-role.js';
import { callStore, notAllowed } from './call-store.js';
import { learnSecret } from './learn-secret.js';
import { parseBridgeArgs } from './parse-bridge-args.js';

const allowlists = new WeakMap<Workflow, ParameterAllowlist>();
const allowlistOf = (workflow: Workflow): ParameterAllowlist => {
  let found = allowlists.get(workflow);
  if (!found) allowlists.set(workflow, (found = compileParameterAllowlist(workflow.allowedParameters)));
  return found;
};

/**
 * `aws.ssm.getParameter` and `aws.ssm.getParametersByPath`: validate, check the workflow's
 * allowedParameters, call, and learn SecureString values (decrypted) for masking. String and
 * StringList values are configuration a workflow reads beside its secrets (a host, a port, a list
 * of replicas): they stay readable in logs and previews; a secret belongs in a SecureString.
 */
export const ssmBridge: StoreBridge = (deps) => {
  const { stores, masker, metrics, workflow } = deps;
  return {
    'aws.ssm.getParameter': async (args) => {
      const request = parseBridgeArgs(getParameterRequestSchema, args, 'getParameter', 'ValidationException');
      if (!allowlistOf(workflow).name(request.Name)) {
        throw notAllowed(
          metrics,
          'GetParameter',
          'AccessDeniedException',
          `workflow "${workflow.name}" may not read the parameter "${request.Name}": it is not in the workflow's allowedParameters`,
        );
      }
      const asWho = await withAssumedRole(deps, request, 'getParameter', 'ValidationException');
      return callStore(
        { masker, metrics },
        'GetParameter',
        () => stores.ssm.getParameter(asWho),
        (value) => learnParameter(masker, value.Parameter, request.WithDecryption),
      );
    },

    /**
     * The Path must be one some pattern can match a parameter under; a parameter under it the
     * workflow may not read is left out of the answer (never learnt, never seen by the step).
     */
    'aws.ssm.getParametersByPath': async (args) => {
      const request = parseBridgeArgs(
        getParametersByPathRequestSchema,
        args,
        'getParametersByPath',
        'ValidationException',
      );
      const allowed = allowlistOf(workflow);
      if (!allowed.path(request.Path)) {
        throw notAllowed(
          metrics,
          'GetParametersByPath',
          'AccessDeniedException',
          `workflow "${workflow.name}" may not list the path "${request.Path}": it is not in the workflow's allowedParameters`,
        );
      }
      const asWho = await withAssumedRole(deps, request, 'getParametersByPath', 'ValidationException');
      const answer = await callStore(
        { masker, metrics },
        'GetParametersByPath',
        async () => {
          const listed = await stores.ssm.getParametersByPath(asWho);
          return listed.ok
            ? { ok: true, value: { Parameters: listed.value.Parameters.filter((p) => allowed.name(p.Name)) } }
            : listed;
        },
        (value) => {
          for (const parameter of value.Parameters) learnParameter(masker, parameter, request.WithDecryption);
        },
      );
      return answer;
    },
  };
};

function learnParameter(masker: SecretMasker, parameter: Parameter, decrypted: boolean | undefined): void {
  // Without decryption a SecureString's value is KMS ciphertext, which is not a secret to mask.
  if (parameter.Type === 'SecureString' && decrypted) learnSecret(masker, parameter.Value);
}
