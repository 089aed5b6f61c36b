import {
  GetParameterCommand,
  GetParametersByPathCommand,
  SSMClient,
  type Parameter as SdkParameter,
} from '@aws-sdk/client-ssm';
import {
  AwsClients,
  isoDate,
  toSecretStoreError,
  type AwsGatewayOptions,
  type SecretStoreError,
} from './aws-clients.js';
import type { StoreAnswer } from './secrets-manager-gateway.js';
import {
  maxParameterPages,
  parametersPerPage,
  type GetParameterRequest,
  type GetParametersByPathRequest,
  type Parameter,
} from './ssm-requests.js';

export interface SsmGateway {
  getParameter(request: GetParameterRequest): Promise<StoreAnswer<{ Parameter: Parameter }>>;
  /** Every page, up to maxParameterPages; a longer listing is a LimitExceededException answer. */
  getParametersByPath(request: GetParametersByPathRequest): Promise<StoreAnswer<{ Parameters: Parameter[] }>>;
  close(): void;
}

/**
 * Performs SSM Parameter Store reads with the real AWS SDK, reaching the same endpoint, region and
 * credentials as the Secrets Manager gateway (the embedded endpoint serves both).
 */
export function createSsmGateway(options: AwsGatewayOptions = {}): SsmGateway {
  const clients = new AwsClients(options, (config) => new SSMClient(config));

  return {
    async getParameter(request) {
      const client = clients.clientFor(request, 'getParameter');
      if (!(client instanceof SSMClient)) return { ok: false, error: client };
      try {
        const out = await client.send(
          new GetParameterCommand({ Name: request.Name, WithDecryption: request.WithDecryption ?? false }),
        );
        return { ok: true, value: { Parameter: toParameter(out.Parameter ?? {}) } };
      } catch (error) {
        return { ok: false, error: withName(toSecretStoreError(error, 'getParameter'), request.Name) };
      }
    },

    async getParametersByPath(request) {
      const client = clients.clientFor(request, 'getParametersByPath');
      if (!(client instanceof SSMClient)) return { ok: false, error: client };
      const parameters: Parameter[] = [];
      let nextToken: string | undefined;
      try {
        for (let page = 0; page < maxParameterPages; page += 1) {
          const out = await client.send(
            new GetParametersByPathCommand({
              Path: request.Path,
              Recursive: request.Recursive ?? false,
              WithDecryption: request.WithDecryption ?? false,
              MaxResults: parametersPerPage,
              ...(nextToken === undefined ? {} : { NextToken: nextToken }),
            }),
          );
          parameters.push(...(out.Parameters ?? []).map(toParameter));
          nextToken = out.NextToken;
          if (nextToken === undefined) return { ok: true, value: { Parameters: parameters } };
        }
      } catch (error) {
        return { ok: false, error: toSecretStoreError(error, 'getParametersByPath') };
      }
      return {
        ok: false,
        error: {
          name: 'LimitExceededException',
          message:
            `getParametersByPath: "${request.Path}" holds more than ${maxParameterPages * parametersPerPage} ` +
            'parameters (the agent reads at most that many); read a narrower Path, or without Recursive',
        },
      };
    },

    close: () => clients.close(),
  };
}

function toParameter(p: SdkParameter): Parameter {
  const modified = isoDate(p.LastModifiedDate);
  return {
    Name: p.Name ?? '',
    Type: p.Type ?? 'String',
    Value: p.Value ?? '',
    Version: p.Version,
    ARN: p.ARN,
    ...(modified === undefined ? {} : { LastModifiedDate: modified }),
    ...(p.DataType === undefined ? {} : { DataType: p.DataType }),
  };
}

/** SSM's ParameterNotFound carries no message; a parameter's name is not secret, so the error names it. */
function withName(error: SecretStoreError, name: string): SecretStoreError {
  if (error.name !== 'ParameterNotFound' || error.message.includes(name)) return error;
  return { name: error.name, message: `parameter not found: ${name}` };
}
