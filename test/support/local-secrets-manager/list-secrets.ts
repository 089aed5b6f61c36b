import {
  AwsServiceError,
  decodePageToken,
  encodePageToken,
  invalidParameter,
  validationError,
  type Params,
  type StoredSecret,
} from '../../../src/local-secrets-manager/index.js';

const FILTER_KEYS = ['description', 'name', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all'];
const SORT_KEYS: Record<string, (secret: StoredSecret) => number | string> = {
  'created-date': (secret) => secret.createdDate,
  'last-changed-date': (secret) => secret.lastChangedDate,
  'last-accessed-date': (secret) => secret.lastAccessedDate ?? 0,
  name: (secret) => secret.name,
};
const DEFAULT_PAGE_SIZE = 100;

type Predicate = (secret: StoredSecret) => boolean;

/**
 * The page of `secrets` a ListSecrets request asks for: filtered (keys `name`, case-sensitive
 * prefix, and `description`, case-insensitive prefix; a value starting with `!` negates), sorted
 * (SortBy, default created-date; SortOrder, default asc) and paged with an opaque NextToken.
 * Secrets scheduled for deletion are left out unless IncludePlannedDeletion is true.
 */
export function listSecrets(
  params: Params,
  secrets: readonly StoredSecret[],
  deletedDateOf: (secret: StoredSecret) => number | undefined,
): { secrets: StoredSecret[]; nextToken: string | undefined } {
  const pageSize = params.integer('MaxResults', { min: 1, max: 100 }) ?? DEFAULT_PAGE_SIZE;
  const token = params.string('NextToken', { min: 1, max: 4096 });
  const includeDeleted = params.boolean('IncludePlannedDeletion') ?? false;
  const predicates = (params.objectList('Filters') ?? []).map(readFilter);
  const matching = secrets.filter(
    (secret) => (includeDeleted || deletedDateOf(secret) === undefined) && predicates.every((p) => p(secret)),
  );
  const sorted = sort(matching, params);
  const start =
    token === undefined
      ? 0
      : decodePageToken(
          token,
          () => new AwsServiceError('InvalidNextTokenException', 'The NextToken value is invalid.'),
        );
  const end = start + pageSize;
  return { secrets: sorted.slice(start, end), nextToken: end < sorted.length ? encodePageToken(end) : undefined };
}

function readFilter(filter: Params): Predicate {
  const key = filter.string('Key');
  const values = filter.stringList('Values', { min: 1, max: 10 }, { max: 512 }) ?? [];
  if (key === undefined || !FILTER_KEYS.includes(key)) {
    throw validationError(
      "Value at 'filters.member.key' failed to satisfy constraint: " +
        `Member must satisfy enum value set: [${FILTER_KEYS.join(', ')}]`,
    );
  }
  const field = fieldMatcher(key);
  const positive = values.filter((value) => !value.startsWith('!'));
  const negated = values.filter((value) => value.startsWith('!')).map((value) => value.slice(1));
  return (secret) =>
    (positive.length === 0 || positive.some((value) => field(secret, value))) &&
    !negated.some((value) => field(secret, value));
}

function fieldMatcher(key: string): (secret: StoredSecret, value: string) => boolean {
  switch (key) {
    case 'name':
      return (secret, value) => secret.name.startsWith(value);
    case 'description':
      return (secret, value) => (secret.description ?? '').toLowerCase().startsWith(value.toLowerCase());
    default:
      throw invalidParameter(
        `The local Secrets Manager does not support the filter key ${key}; use name or description.`,
      );
  }
}

function sort(secrets: StoredSecret[], params: Params): StoredSecret[] {
  const sortBy = params.string('SortBy') ?? 'created-date';
  const order = params.string('SortOrder') ?? 'asc';
  const keyOf = SORT_KEYS[sortBy];
  if (!keyOf) {
    throw validationError(
      "Value at 'sortBy' failed to satisfy constraint: " +
        `Member must satisfy enum value set: [${Object.keys(SORT_KEYS).join(', ')}]`,
    );
  }
  if (order !== 'asc' && order !== 'desc') {
    throw validationError(
      "Value at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]",
    );
  }
  // Array.prototype.sort is stable, so equal keys keep creation order.
  const sorted = [...secrets].sort((a, b) => compare(keyOf(a), keyOf(b)));
  return order === 'desc' ? sorted.reverse() : sorted;
}

function compare(a: number | string, b: number | string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
