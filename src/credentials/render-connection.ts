import { formatPath, parseResolvedConnection, type Integration, type ResolvedConnection } from '../config/index.js';
import { CredflowError } from '../errors.js';
import type { SecretMasker } from '../masking/index.js';

/**
 * Renders an integration's connection templates against a context (`<workflow>.response`,
 * `credentials.response`, `Env`) and validates the result. The password and connection string are
 * registered with the masker before anything else can print them.
 */
export function renderConnection(
  integration: Integration,
  context: Record<string, unknown>,
  masker: SecretMasker,
): ResolvedConnection {
  const rendered = integration.templates.render(context);
  const parsed = parseResolvedConnection(rendered);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] ?? { path: [], message: 'invalid connection' };
    const field = `connection.${formatPath(issue.path)}`;
    throw new CredflowError('CONNECTION_INVALID', `integration "${integration.name}": ${field}: ${issue.message}`, {
      details: { integration: integration.name, field },
    });
  }
  const connection = parsed.data;
  if ('password' in connection && connection.password) masker.add(connection.password);
  if ('connectionString' in connection) {
    // Whole only: its scheme, host and database are not secret; its password is registered below.
    masker.add(connection.connectionString, false);
    masker.addSecretsIn({ connectionString: connection.connectionString });
  }
  return connection;
}
