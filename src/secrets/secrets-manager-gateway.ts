import {
  BatchGetSecretValueCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
  type SecretValueEntry,
} from '@aws-sdk/client-secrets-manager';
import {
  AwsClients,
  isoDate,
  toSecretStoreError,
  type AwsGatewayOptions,
  type AwsTarget,
  type SecretStoreError,
} from './aws-clients.js';
import type { GetSecretValueRequest, SecretValue } from './get-secret-value-request.js';
import type {
  BatchGetSecretValueRequest,
  BatchSecretValues,
  DescribeSecretRequest,
  SecretDescription,
} from './secrets-manager-requests.js';

export type SecretsGatewayOptions = AwsGatewayOptions;
export type { SecretStoreError } from './aws-clients.js';

/** What a call comes to: the store's refusal (an unknown secret, no access, no network) is an answer, not a rejection. */
export type StoreAnswer<T> = { ok: true; value: T } | { ok: false; error: SecretStoreError };
export type SecretAnswer = StoreAnswer<SecretValue>;

export interface SecretsGateway {
  getSecretValue(request: GetSecretValueRequest): Promise<SecretAnswer>;
  batchGetSecretValue(request: BatchGetSecretValueRequest): Promise<StoreAnswer<BatchSecretValues>>;
  describeSecret(request: DescribeSecretRequest): Promise<StoreAnswer<SecretDescription>>;
  close(): void;
}

/** Performs Secrets Manager calls with the real AWS SDK (clients reused, see AwsClients). */
export function createSecretsGateway(options: SecretsGatewayOptions = {}): SecretsGateway {
  const clients = new AwsClients(options, (config) => new SecretsManagerClient(config));

  /** Runs `call` on the client for `target`; a thrown SDK error becomes the answer's error. */
  async function send<T>(
    target: AwsTarget,
    operation: string,
    call: (client: SecretsManagerClient) => Promise<T>,
    secretId?: string,
  ): Promise<StoreAnswer<T>> {
    const client = clients.clientFor(target, operation);
    if (!(client instanceof SecretsManagerClient)) return { ok: false, error: client };
    try {
      return { ok: true, value: await call(client) };
    } catch (error) {
      const known = toSecretStoreError(error, operation);
      return { ok: false, error: secretId === undefined ? known : withSecretId(known, secretId) };
    }
  }

  return {
    getSecretValue: (request) =>
      send(
        request,
        'getSecretValue',
        async (client) =>
          toSecretValue(
            await client.send(
              new GetSecretValueCommand({
                SecretId: request.SecretId,
                ...(request.VersionId ? { VersionId: request.VersionId } : {}),
                ...(request.VersionStage ? { VersionStage: request.VersionStage } : {}),
              }),
            ),
          ),
        request.SecretId,
      ),

    batchGetSecretValue: (request) =>
      send(request, 'batchGetSecretValue', async (client) => {
        // Up to 20 ids: the service answers them all in one page.
        const out = await client.send(new BatchGetSecretValueCommand({ SecretIdList: request.SecretIdList }));
        return {
          SecretValues: (out.SecretValues ?? []).map(toSecretValue),
          Errors: (out.Errors ?? []).map((e) => ({
            SecretId: e.SecretId ?? '',
            ErrorCode: e.ErrorCode ?? 'Error',
            Message: e.Message ?? '',
          })),
        };
      }),

    describeSecret: (request) =>
      send(
        request,
        'describeSecret',
        async (client) => {
          const out = await client.send(new DescribeSecretCommand({ SecretId: request.SecretId }));
          const dates = {
            NextRotationDate: isoDate(out.NextRotationDate),
            LastRotatedDate: isoDate(out.LastRotatedDate),
            LastChangedDate: isoDate(out.LastChangedDate),
            CreatedDate: isoDate(out.CreatedDate),
          };
          return {
            Name: out.Name,
            ARN: out.ARN,
            ...(out.Description === undefined ? {} : { Description: out.Description }),
            RotationEnabled: out.RotationEnabled ?? false,
            ...Object.fromEntries(Object.entries(dates).filter(([, date]) => date !== undefined)),
            VersionIdsToStages: out.VersionIdsToStages ?? {},
          };
        },
        request.SecretId,
      ),

    close: () => clients.close(),
  };
}

/** GetSecretValue's answer, or an entry of BatchGetSecretValue's, as step code sees it. */
function toSecretValue(out: SecretValueEntry): SecretValue {
  const value: SecretValue = {
    Name: out.Name,
    ARN: out.ARN,
    VersionId: out.VersionId,
    VersionStages: out.VersionStages ?? [],
  };
  if (out.SecretString !== undefined) value.SecretString = out.SecretString;
  if (out.SecretBinary !== undefined) value.SecretBinary = Buffer.from(out.SecretBinary).toString('base64');
  return value;
}

/**
 * AWS's ResourceNotFoundException does not say which secret ("Secrets Manager can't find the
 * specified secret."); a secret's id is not secret, so the error names it.
 */
function withSecretId(error: SecretStoreError, secretId: string): SecretStoreError {
  if (error.name !== 'ResourceNotFoundException' || error.message.includes(secretId)) return error;
  const message = error.message.endsWith('secret.')
    ? `${error.message.slice(0, -1)}: ${secretId}`
    : `${error.message} (SecretId: ${secretId})`;
  return { name: error.name, message };
}
