/**
 * The one error type of credflow. Every module wraps the foreign errors it meets (pg, AWS SDK,
 * isolated-vm, fs) into a CredflowError with a stable code; the HTTP and CLI adapters map codes to
 * statuses and exit codes in one place each.
 */
export const errorCodes = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  /** A client address failed to authenticate too often; its requests are refused until its window ends. */
  TOO_MANY_AUTH_FAILURES: 429,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CONFIG_INVALID: 500,
  /** A reload found problems in the files; the agent keeps serving its last good configuration. */
  CONFIG_RELOAD_INVALID: 422,
  ENV_VAR_MISSING: 500,
  INTEGRATION_NOT_FOUND: 404,
  PROFILE_NOT_FOUND: 404,
  WORKFLOW_NOT_FOUND: 404,
  WORKFLOW_FAILED: 502,
  WORKFLOW_TIMEOUT: 504,
  CREDENTIALS_UNAVAILABLE: 503,
  TEMPLATE_INVALID: 500,
  TEMPLATE_MISSING_VALUE: 502,
  CONNECTION_INVALID: 502,
  DB_AUTH_FAILED: 502,
  DB_CONNECT_FAILED: 502,
  /** The integration's or the database server's connection limit held for the connect timeout; retryable (Retry-After). */
  CONNECTION_LIMIT: 503,
  DB_QUERY_FAILED: 400,
  RESULT_TOO_LARGE: 400,
  LISTEN_FAILED: 500,
  EMBEDDED_ALREADY_RUNNING: 409,
  EMBEDDED_POSTGRES_FAILED: 500,
  SECRETS_LIMIT: 503,
  /** Every sandbox worker runs its most runs at once and the queue is full; retry after Retry-After. */
  SANDBOX_BUSY: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export interface CredflowErrorOptions {
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class CredflowError extends Error {
  override readonly name = 'CredflowError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: CredflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** The HTTP status that fits this error's code. */
  get status(): number {
    return errorCodes[this.code];
  }
}

export function isCredflowError(value: unknown): value is CredflowError {
  return value instanceof CredflowError;
}

/** Cuts a message or log text to `max` characters, saying that it did. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (truncated)` : text;
}

/** The message of anything thrown, without its stack. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
