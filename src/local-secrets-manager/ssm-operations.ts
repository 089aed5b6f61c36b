import { AwsServiceError, validationError } from './aws-service-error.js';
import { epochSeconds } from './operations.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { ParameterStore, StoredParameter } from './parameter-store.js';
import type { Params } from './params.js';

/** One SSM operation, by the name after `AmazonSSM.` in X-Amz-Target. */
export type SsmOperation = (params: Params, store: ParameterStore) => Record<string, unknown>;

const NAME = { min: 1, max: 2048 };
/** GetParametersByPath answers at most 10 parameters a page, as the service does. */
const PAGE = { min: 1, max: 10 };

/** The SSM Parameter Store operations the agent calls: reads only (the store is seeded in process). */
export const ssmOperations = {
  GetParameter(params, store) {
    const name = params.requiredString('Name', NAME);
    const decrypt = params.boolean('WithDecryption') ?? false;
    return { Parameter: wireParameter(find(store, name), decrypt) };
  },

  GetParametersByPath(params, store) {
    const path = params.requiredString('Path', NAME);
    const recursive = params.boolean('Recursive') ?? false;
    const decrypt = params.boolean('WithDecryption') ?? false;
    const maxResults = params.integer('MaxResults', PAGE) ?? PAGE.max;
    const token = params.string('NextToken', { min: 1, max: 1024 });
    if (params.objectList('ParameterFilters')?.length) {
      throw validationError("Value at 'parameterFilters' is not supported by this endpoint");
    }
    if (!path.startsWith('/')) {
      throw new AwsServiceError(
        'ValidationException',
        'The parameter doesn\'t meet the parameter name requirements. The parameter name must begin with a forward slash "/".',
      );
    }
    const all = store.under(path, recursive);
    const offset =
      token === undefined
        ? 0
        : decodePageToken(token, () => new AwsServiceError('InvalidNextToken', 'The nextToken is not valid.'));
    const page = all.slice(offset, offset + maxResults);
    const next = offset + page.length;
    return {
      Parameters: page.map((p) => wireParameter(p, decrypt)),
      ...(next < all.length ? { NextToken: encodePageToken(next) } : {}),
    };
  },
} satisfies Record<string, SsmOperation>;

export function findSsmOperation(name: string): SsmOperation | undefined {
  return Object.hasOwn(ssmOperations, name) ? ssmOperations[name as keyof typeof ssmOperations] : undefined;
}

/** A name or the parameter's ARN. */
function find(store: ParameterStore, name: string): StoredParameter {
  const arn = /^arn:[^:]+:ssm:[^:]*:[^:]*:parameter(\/.*)$/.exec(name)?.[1];
  if (arn === undefined) return store.get(name);
  try {
    return store.get(arn);
  } catch {
    return store.get(arn.slice(1));
  }
}

/** A SecureString read without decryption answers its ciphertext, as the service does. */
function wireParameter(p: StoredParameter, decrypt: boolean): Record<string, unknown> {
  return {
    Name: p.name,
    Type: p.type,
    Value: p.type === 'SecureString' && !decrypt ? p.ciphertext : p.value,
    Version: p.version,
    LastModifiedDate: epochSeconds(p.lastModifiedDate),
    ARN: p.arn,
    DataType: 'text',
  };
}
