import { randomBytes } from 'node:crypto';
import { AwsServiceError } from './aws-service-error.js';

export const PARAMETER_TYPES = ['String', 'StringList', 'SecureString'] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];

export interface StoredParameter {
  readonly name: string;
  readonly arn: string;
  readonly type: ParameterType;
  readonly value: string;
  /**
   * What the service answers for a SecureString read without WithDecryption: KMS ciphertext. Here
   * random bytes, drawn per version, so nothing of the value shows through it.
   */
  readonly ciphertext: string;
  readonly version: number;
  readonly lastModifiedDate: number;
}

/** SSM's name rule: letters, digits and `_.-/`; a hierarchy starts with `/`. */
export const PARAMETER_NAME = /^[A-Za-z0-9_.\-/]{1,2048}$/;
/** SSM keeps values up to 4 KB (standard tier) or 8 KB (advanced); the advanced bound here. */
export const MAX_PARAMETER_VALUE_CHARS = 8192;

export interface ParameterStoreOptions {
  region: string;
  now?: () => number;
  /** Parameters held at most (default 1000); past it putParameter throws ParameterLimitExceeded. */
  maxParameters?: number;
  /** Told each value stored, e.g. for a test's leak search; the store keeps no history itself. */
  onValueStored?: (parameter: StoredParameter) => void;
}

/**
 * SSM Parameter Store's parameters in memory: the latest version of each, by name. Written in
 * process only (the demo's seed, tests); read through GetParameter and GetParametersByPath.
 */
export class ParameterStore {
  private readonly parameters = new Map<string, StoredParameter>();
  private readonly region: string;
  private readonly now: () => number;
  private readonly maxParameters: number;
  private readonly onValueStored: ((parameter: StoredParameter) => void) | undefined;

  constructor(options: ParameterStoreOptions) {
    this.region = options.region;
    this.now = options.now ?? Date.now;
    this.maxParameters = options.maxParameters ?? 1000;
    this.onValueStored = options.onValueStored;
  }

  /** Creates a parameter or, with `overwrite`, a new version of it, as PutParameter does. */
  put(name: string, value: string, options: { type?: ParameterType; overwrite?: boolean } = {}): StoredParameter {
    if (!PARAMETER_NAME.test(name) || (name.startsWith('/') && name.split('/').length - 1 > 15)) {
      throw new AwsServiceError(
        'ValidationException',
        'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol "/". Valid example: /get/parameters2-/by1./path0_.',
      );
    }
    if (value.length === 0 || value.length > MAX_PARAMETER_VALUE_CHARS) {
      throw new AwsServiceError(
        'ValidationException',
        `1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length between 1 and ${MAX_PARAMETER_VALUE_CHARS}`,
      );
    }
    const existing = this.parameters.get(name);
    if (existing && !options.overwrite) {
      throw new AwsServiceError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this request, set the overwrite option in the request to true.',
      );
    }
    if (!existing && this.parameters.size >= this.maxParameters) {
      throw new AwsServiceError(
        'ParameterLimitExceeded',
        `This endpoint holds at most ${this.maxParameters} parameters.`,
      );
    }
    const parameter: StoredParameter = {
      name,
      arn: `arn:aws:ssm:${this.region}:000000000000:parameter${name.startsWith('/') ? '' : '/'}${name}`,
      type: options.type ?? existing?.type ?? 'String',
      value,
      ciphertext: randomBytes(48).toString('base64'),
      version: (existing?.version ?? 0) + 1,
      lastModifiedDate: this.now(),
    };
    this.parameters.set(name, parameter);
    this.onValueStored?.(parameter);
    return parameter;
  }

  /** The parameter named `name`; ParameterNotFound otherwise (the service's message is empty). */
  get(name: string): StoredParameter {
    const parameter = this.parameters.get(name);
    if (!parameter) throw new AwsServiceError('ParameterNotFound', '');
    return parameter;
  }

  /**
   * The parameters under `path` in name order: its direct children, or with `recursive` every
   * descendant. A path is `/` or a `/`-prefixed hierarchy; a trailing slash is ignored.
   */
  under(path: string, recursive: boolean): StoredParameter[] {
    const prefix = path.endsWith('/') ? path : `${path}/`;
    return [...this.parameters.values()]
      .filter((p) => p.name.startsWith(prefix) && (recursive || !p.name.slice(prefix.length).includes('/')))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
