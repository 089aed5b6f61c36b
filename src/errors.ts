/**
 * The one error type of credflow. Every module wraps the foreign errors it meets (pg, AWS SDK,
 * isolated-vm, fs) into a CredflowError with a stable code, once, at the module that calls it; the
 * table below gives every code its HTTP status, stage and CLI exit code.
 */
/** The stage of resolving and using a connection that an error belongs to (`integrations test`, logs). */
export type Stage = 'workflow' | 'template' | 'validation' | 'connect' | 'auth' | 'query';

/**
 * CLI exit codes: 1 a failure to fix (configuration, credentials, the query), 75 (EX_TEMPFAIL of
 * sysexits.h) a refusal for lack of room that the same command may pass later. 2 (bad usage) comes
 * from the argument parser, before any of these codes exists.
 */
export const exitCodes = { failed: 1, usage: 2, retryLater: 75 } as const;

interface ErrorRow {
  /** The HTTP status the API answers with. */
  status: number;
  /** The stage it belongs to, for a failure while resolving or using a connection. */
  stage?: Stage;
  /** The CLI's exit code. */
  exit: (typeof exitCodes)[keyof typeof exitCodes];
}

const fix = (status: number, stage?: Stage): ErrorRow => ({
  status,
  exit: exitCodes.failed,
  ...(stage ? { stage } : {}),
});
const later = (status: number, stage?: Stage): ErrorRow => ({
  status,
  exit: exitCodes.retryLater,
  ...(stage ? { stage } : {}),
});

/**
 * The one table of error codes: each code's HTTP status, stage and CLI exit code. The HTTP error
 * handler, the CLI and `integrations test` all read it; nothing else maps codes.
 */
export const errorTable = {
  BAD_REQUEST: fix(400),
  UNAUTHORIZED: fix(401),
  /** A client address failed to authenticate too often; its requests are refused until its window ends. */
  TOO_MANY_AUTH_FAILURES: later(429),
  FORBIDDEN: fix(403),
  NOT_FOUND: fix(404),
  METHOD_NOT_ALLOWED: fix(405),
  PAYLOAD_TOO_LARGE: fix(413),
  UNSUPPORTED_MEDIA_TYPE: fix(415),
  CONFIG_INVALID: fix(500),
  /** A reload found problems in the files; the agent keeps serving its last good configuration. */
  CONFIG_RELOAD_INVALID: fix(422),
  ENV_VAR_MISSING: fix(500),
  INTEGRATION_NOT_FOUND: fix(404),
  PROFILE_NOT_FOUND: fix(404),
  WORKFLOW_NOT_FOUND: fix(404, 'workflow'),
  WORKFLOW_FAILED: fix(502, 'workflow'),
  WORKFLOW_TIMEOUT: fix(504, 'workflow'),
  CREDENTIALS_UNAVAILABLE: later(503, 'workflow'),
  TEMPLATE_INVALID: fix(500, 'template'),
  TEMPLATE_MISSING_VALUE: fix(502, 'template'),
  CONNECTION_INVALID: fix(502, 'validation'),
  DB_AUTH_FAILED: fix(502, 'auth'),
  DB_CONNECT_FAILED: fix(502, 'connect'),
  /** The integration's or the database server's connection limit held for the connect timeout; retryable (Retry-After). */
  CONNECTION_LIMIT: later(503, 'connect'),
  DB_QUERY_FAILED: fix(400, 'query'),
  RESULT_TOO_LARGE: fix(400),
  LISTEN_FAILED: fix(500),
  EMBEDDED_ALREADY_RUNNING: fix(409),
  EMBEDDED_POSTGRES_FAILED: fix(500),
  SECRETS_LIMIT: later(503),
  /** Every sandbox worker runs its most runs at once and the queue is full; retry after Retry-After. */
  SANDBOX_BUSY: later(503, 'workflow'),
  INTERNAL: fix(500),
} as const satisfies Record<string, ErrorRow>;

export type ErrorCode = keyof typeof errorTable;

/** Whether a string is one of the codes (a code read from an HTTP answer, say). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorTable, value);
}

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
    return errorTable[this.code].status;
  }

  /** The stage this error belongs to, when it failed resolving or using a connection. */
  get stage(): Stage | undefined {
    const row: ErrorRow = errorTable[this.code];
    return row.stage;
  }

  /** The CLI's exit code for this error. */
  get exitCode(): number {
    return errorTable[this.code].exit;
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
