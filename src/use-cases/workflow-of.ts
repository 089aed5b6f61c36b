import type { Integration } from '../config/index.js';

/** The workflow an integration runs to fetch its credentials; undefined when it fetches none. */
export const workflowOf = (integration: Integration): string | undefined =>
  integration.fetchCredentialsDynamically?.enabled ? integration.fetchCredentialsDynamically.workflow : undefined;
