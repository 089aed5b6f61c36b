// Over 250 lines on purpose: one zod schema of every CREDFLOW_* setting and its typed view, read
// once at start-up; split, a setting's range and its meaning would sit in two places.
import { z } from 'zod';
import { plainTokenProblem } from './token-rules.js';
import { CredflowError } from '../errors.js';

const intFrom = (fallback: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

/** CREDFLOW_API_TOKENS: comma-separated, blanks around and between ignored. */
const splitTokens = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);

/** The agent's own settings, read once from the environment at start-up. */
export const agentSettingsSchema = z
  .object({
    PORT: intFrom(8080, 0, 65535),
    HOST: z.string().min(1).default('127.0.0.1'),
    CREDFLOW_API_TOKENS: z.string().optional(),
    CREDFLOW_TOKENS_FILE: z.string().optional(),
    CREDFLOW_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    CREDFLOW_SANDBOX_MEMORY_MB: intFrom(64, 8, 4096),
    CREDFLOW_STEP_TIMEOUT_MS: intFrom(5_000, 1, 600_000),
    CREDFLOW_RUN_TIMEOUT_MS: intFrom(15_000, 1, 600_000),
    CREDFLOW_MAX_RESPONSE_BYTES: intFrom(256 * 1024, 2, 16 * 1024 * 1024),
    CREDFLOW_SANDBOX_PREWARM: intFrom(1, 0, 64),
    CREDFLOW_SANDBOX_WORKERS: intFrom(2, 1, 64),
    CREDFLOW_SANDBOX_MAX_BRIDGE_CALLS: intFrom(20, 0, 10_000),
    CREDFLOW_SANDBOX_MAX_LOG_BYTES: intFrom(8 * 1024, 16, 1024 * 1024),
    CREDFLOW_SANDBOX_MAX_LOG_LINES: intFrom(200, 1, 100_000),
    CREDFLOW_RUN_MAX_LOG_BYTES: intFrom(256 * 1024, 1024, 64 * 1024 * 1024),
    CREDFLOW_RUN_MAX_LOG_LINES: intFrom(1000, 1, 1_000_000),
    CREDFLOW_SANDBOX_WORKER_CONCURRENCY: intFrom(4, 1, 64),
    CREDFLOW_SANDBOX_QUEUE_MAX: intFrom(64, 0, 10_000),
    // 0: (concurrency + prewarm) x memory + 256, see defaultWorkerMaxRssMb.
    CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB: z.coerce
      .number()
      .int()
      .min(0)
      .max(1_048_576)
      .refine((mb) => mb === 0 || mb >= 64, {
        message: 'must be 0 (derived from the other sandbox settings) or at least 64',
      })
      .default(0),
    CREDFLOW_PREVIEW_MAX_BYTES: intFrom(1024 * 1024, 64 * 1024, 256 * 1024 * 1024),
    CREDFLOW_POOL_MAX: intFrom(10, 1, 1000),
    CREDFLOW_UPSTREAM_MAX_CONNECTIONS: intFrom(50, 1, 100_000),
    CREDFLOW_CONNECT_TIMEOUT_MS: intFrom(10_000, 100, 600_000),
    CREDFLOW_STATEMENT_TIMEOUT_MS: intFrom(60_000, 0, 24 * 3600 * 1000),
    CREDFLOW_QUERY_MAX_ROWS: intFrom(10_000, 1, 10_000_000),
    CREDFLOW_QUERY_MAX_BYTES: intFrom(16 * 1024 * 1024, 1, 1024 * 1024 * 1024),
    CREDFLOW_QUERY_MAX_MESSAGE_BYTES: intFrom(1024 * 1024, 1024, 256 * 1024 * 1024),
    CREDFLOW_CACHE_TTL_SECONDS: intFrom(300, 0, 7 * 24 * 3600),
    CREDFLOW_MAX_STALE_SECONDS: intFrom(600, 0, 7 * 24 * 3600),
    CREDFLOW_CACHE_MAX_ENTRIES: intFrom(1000, 1, 1_000_000),
    CREDFLOW_MASKER_MAX_SECRETS: intFrom(2048, 16, 1_000_000),
    CREDFLOW_MASKER_MAX_BYTES: intFrom(262_144, 65_536, 64 * 1024 * 1024),
    CREDFLOW_AUTH_RETRIES: intFrom(2, 0, 10),
    CREDFLOW_ROTATION_WAIT_MS: intFrom(5_000, 0, 600_000),
    // An RDS IAM token lives 15 minutes: reused for at most 14, so it is never sent past its life.
    CREDFLOW_RDS_IAM_TOKEN_REUSE_SECONDS: intFrom(600, 1, 840),
    CREDFLOW_HTTP_REQUEST_TIMEOUT_MS: intFrom(30_000, 50, 600_000),
    CREDFLOW_HTTP_HEADERS_TIMEOUT_MS: intFrom(10_000, 50, 600_000),
    CREDFLOW_HTTP_KEEP_ALIVE_TIMEOUT_MS: intFrom(5_000, 50, 600_000),
    CREDFLOW_HTTP_MAX_CONNECTIONS: intFrom(256, 1, 100_000),
    CREDFLOW_HTTP_AUTH_FAILURE_LIMIT: intFrom(20, 1, 1_000_000),
    CREDFLOW_HTTP_AUTH_FAILURE_WINDOW_SECONDS: intFrom(10, 1, 3600),
    CREDFLOW_HTTP_AUTH_FAILURE_ADDRESSES: intFrom(10_000, 1, 1_000_000),
    CREDFLOW_HTTP_BRIDGE_MAX_BYTES: intFrom(1024 * 1024, 1024, 64 * 1024 * 1024),
    CREDFLOW_HTTP_BRIDGE_TIMEOUT_MS: intFrom(10_000, 100, 600_000),
    CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK: z.enum(['true', 'false']).default('false'),
    CREDFLOW_HTTP_BRIDGE_CA_FILE: z.string().optional(),
    CREDFLOW_PROFILES: z
      .string()
      .regex(/^\s*([A-Za-z0-9][A-Za-z0-9_.-]{0,63}\s*(,\s*|$))*$/, {
        message: 'must be comma-separated profile names (letters, digits, "_", "." or "-")',
      })
      .optional(),
    VAULT_ADDR: z
      .url({
        protocol: /^https?$/,
        message: 'must be an http:// or https:// URL (e.g. https://vault.example.com:8200)',
      })
      .optional(),
    CREDFLOW_VAULT_TOKEN: z.string().optional(),
    CREDFLOW_VAULT_ROLE_ID: z.string().optional(),
    CREDFLOW_VAULT_SECRET_ID: z.string().optional(),
    CREDFLOW_VAULT_APPROLE_MOUNT: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, {
        message: 'must be the path of an auth mount, such as approle or teams/approle',
      })
      .optional(),
    VAULT_NAMESPACE: z.string().optional(),
    VAULT_CACERT: z.string().optional(),
    CREDFLOW_DEFAULT_PROFILE: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'must be letters, digits, "_", "." or "-"' })
      .default('default'),
  })
  .superRefine((s, ctx) => {
    // The same rules as a tokens file's "token"; a token is named by its place, never quoted.
    const tokens = splitTokens(s.CREDFLOW_API_TOKENS);
    tokens.forEach((token, i) => {
      const problem = plainTokenProblem(token);
      if (problem)
        ctx.addIssue({
          code: 'custom',
          path: ['CREDFLOW_API_TOKENS'],
          message: `token ${i + 1} of ${tokens.length} ${problem}`,
        });
    });
    vaultProblems(s).forEach(([path, message]) => ctx.addIssue({ code: 'custom', path: [path], message }));
    if (s.CREDFLOW_HTTP_HEADERS_TIMEOUT_MS > s.CREDFLOW_HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['CREDFLOW_HTTP_HEADERS_TIMEOUT_MS'],
        message: `must not be more than CREDFLOW_HTTP_REQUEST_TIMEOUT_MS (${s.CREDFLOW_HTTP_REQUEST_TIMEOUT_MS})`,
      });
    }
  });

export interface SandboxLimits {
  memoryMb: number;
  stepTimeoutMs: number;
  runTimeoutMs: number;
  maxResponseBytes: number;
  /** GetSecretValue (and any later bridge) calls one run may make. */
  maxBridgeCalls: number;
  /** Longest text of one console call (UTF-16 units); longer ones are cut. */
  maxLogBytes: number;
  /** console calls kept per step. */
  maxLogLines: number;
  /** UTF-8 bytes of log text kept per run, across its steps; later lines are cut, with a marker line. */
  maxRunLogBytes: number;
  /** console calls kept per run, across its steps. */
  maxRunLogLines: number;
}

export interface SandboxSettings extends SandboxLimits {
  /** Isolates each sandbox worker prepares ahead of time (each serves one run, then is disposed). */
  prewarm: number;
  /** Sandbox worker processes. */
  workers: number;
  /** Runs one worker executes at once; more wait in the agent's queue. */
  concurrency: number;
  /** Runs waiting for a worker at most; past it a run is refused with SANDBOX_BUSY. */
  queueMax: number;
  /** Resident memory (MB) past which the agent stops a sandbox worker; 0: derived from the settings above. */
  workerMaxRssMb: number;
}

/** The HTTP server's bounds on slow and flooding clients. */
export interface HttpSettings {
  /** Time to receive a whole request (headers and body); the answer may take longer. */
  requestTimeoutMs: number;
  /** Time to receive a request's headers (also bounds a connection that sends nothing); at most requestTimeoutMs. */
  headersTimeoutMs: number;
  /** How long an idle keep-alive connection is kept open. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; further ones are closed at once. */
  maxConnections: number;
  /** Failed authentications one client address may make per window before it gets 429. */
  authFailureLimit: number;
  authFailureWindowMs: number;
  /** Client addresses whose failures are tracked at most (the oldest is forgotten first). */
  authFailureAddresses: number;
}

/** How the agent reaches HashiCorp Vault (VAULT_ADDR set), for the vault.* bridge functions. */
export interface VaultSettings {
  addr: string;
  /** CREDFLOW_VAULT_TOKEN, or an AppRole login with CREDFLOW_VAULT_ROLE_ID and CREDFLOW_VAULT_SECRET_ID. */
  credentials: { token: string } | { appRole: { roleId: string; secretId: string; mount: string } };
  namespace: string | undefined;
  /** A PEM file of the CA(s) to trust for an https VAULT_ADDR. */
  caCertFile: string | undefined;
}

type ParsedSettings = z.infer<typeof agentSettingsSchema>;

/** One [variable, problem] per inconsistency of the Vault settings. */
function vaultProblems(s: {
  VAULT_ADDR?: string | undefined;
  CREDFLOW_VAULT_TOKEN?: string | undefined;
  CREDFLOW_VAULT_ROLE_ID?: string | undefined;
  CREDFLOW_VAULT_SECRET_ID?: string | undefined;
  CREDFLOW_VAULT_APPROLE_MOUNT?: string | undefined;
}): [string, string][] {
  const token = s.CREDFLOW_VAULT_TOKEN;
  const roleId = s.CREDFLOW_VAULT_ROLE_ID;
  const secretId = s.CREDFLOW_VAULT_SECRET_ID;
  const problems: [string, string][] = [];
  if ((roleId === undefined) !== (secretId === undefined))
    problems.push([
      roleId === undefined ? 'CREDFLOW_VAULT_ROLE_ID' : 'CREDFLOW_VAULT_SECRET_ID',
      'AppRole needs both CREDFLOW_VAULT_ROLE_ID and CREDFLOW_VAULT_SECRET_ID',
    ]);
  if (token !== undefined && roleId !== undefined)
    problems.push(['CREDFLOW_VAULT_TOKEN', 'set either CREDFLOW_VAULT_TOKEN or the AppRole settings, not both']);
  if (s.VAULT_ADDR !== undefined && token === undefined && roleId === undefined)
    problems.push(['VAULT_ADDR', 'needs CREDFLOW_VAULT_TOKEN, or CREDFLOW_VAULT_ROLE_ID and CREDFLOW_VAULT_SECRET_ID']);
  if (s.CREDFLOW_VAULT_APPROLE_MOUNT !== undefined && roleId === undefined)
    problems.push([
      'CREDFLOW_VAULT_APPROLE_MOUNT',
      'is used only by an AppRole login: set CREDFLOW_VAULT_ROLE_ID and CREDFLOW_VAULT_SECRET_ID too',
    ]);
  if (s.VAULT_ADDR === undefined && (token !== undefined || roleId !== undefined))
    problems.push(['VAULT_ADDR', 'must be set when Vault credentials are (the address of the Vault server)']);
  return problems;
}

function vaultSettings(s: ParsedSettings): VaultSettings | undefined {
  if (s.VAULT_ADDR === undefined) return undefined;
  const credentials =
    s.CREDFLOW_VAULT_TOKEN !== undefined
      ? { token: s.CREDFLOW_VAULT_TOKEN }
      : {
          appRole: {
            roleId: s.CREDFLOW_VAULT_ROLE_ID ?? '',
            secretId: s.CREDFLOW_VAULT_SECRET_ID ?? '',
            mount: s.CREDFLOW_VAULT_APPROLE_MOUNT ?? 'approle',
          },
        };
  return { addr: s.VAULT_ADDR, credentials, namespace: s.VAULT_NAMESPACE, caCertFile: s.VAULT_CACERT };
}

export interface HttpBridgeSettings {
  /** Bytes of one response body at most. */
  maxBytes: number;
  /** Time for one call, its redirects included (never past the run's deadline). */
  timeoutMs: number;
  /** Loopback is reachable through allowedHosts entries naming an IP literal (tests, demos). */
  allowLoopback: boolean;
  /** A PEM file of CA certificates https calls trust besides Node's own; read at start-up. */
  caFile: string | undefined;
}

export interface AgentSettings {
  port: number;
  host: string;
  /** Plain tokens with every scope (CREDFLOW_API_TOKENS). */
  apiTokens: string[];
  /** A JSON file of scoped tokens (CREDFLOW_TOKENS_FILE). */
  tokensFile: string | undefined;
  logLevel: z.infer<typeof agentSettingsSchema>['CREDFLOW_LOG_LEVEL'];
  sandbox: SandboxSettings;
  /** Bytes of JSON a preview answers at most; step logs are cut first. */
  previewMaxBytes: number;
  /** Connections per pool, and per integration over all its pools (draining ones included). */
  poolMax: number;
  /** Connections all pools may hold to one database server (host:port), draining ones included. */
  upstreamMaxConnections: number;
  connectTimeoutMs: number;
  /** PostgreSQL's statement_timeout for every query (0: none). */
  statementTimeoutMs: number;
  /** Rows and bytes of row data a query returns at most (integrations may set their own). */
  queryMaxRows: number;
  queryMaxBytes: number;
  /** Bytes one backend message other than a DataRow may have (ErrorResponse, NoticeResponse, ...). */
  queryMaxMessageBytes: number;
  cache: { ttlSeconds: number; maxStaleSeconds: number; maxEntries: number };
  /** Secret values learnt from stores that the masker holds at most (see SecretMasker). */
  masker: { maxSecrets: number; maxBytes: number };
  /** Times a query is retried on different credentials after the database refused the ones it had. */
  authRetries: number;
  /**
   * How long a query waits, once the database refused credentials that worked before and the store
   * still returns them, for the store to return new ones (0: fail at once). Integrations may set their own.
   */
  rotationWaitMs: number;
  /** How long a signed RDS IAM token is reused for new connections before another is signed. */
  rdsIamTokenReuseMs: number;
  http: HttpSettings;
  /** http.fetch's bounds (src/secrets/http-gateway). */
  httpBridge: HttpBridgeSettings;
  defaultProfile: string;
  /** Undefined: VAULT_ADDR is not set. */
  vault: VaultSettings | undefined;
  /** Profiles accepted by integrations that declare none; always includes the default. */
  profiles: string[];
}

/** Parses the environment; a bad value is a CONFIG_INVALID error naming the variable. */
export function readAgentSettings(env: NodeJS.ProcessEnv = process.env): AgentSettings {
  // An empty variable means unset (so `PORT=` keeps the default rather than becoming port 0).
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = agentSettingsSchema.safeParse(given);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `environment variable ${String(i.path[0])}: ${i.message}`);
    throw new CredflowError('CONFIG_INVALID', lines.join('\n'), { details: { problems: lines } });
  }
  const s = result.data;
  return {
    port: s.PORT,
    host: s.HOST,
    apiTokens: splitTokens(s.CREDFLOW_API_TOKENS),
    tokensFile: s.CREDFLOW_TOKENS_FILE,
    logLevel: s.CREDFLOW_LOG_LEVEL,
    sandbox: {
      memoryMb: s.CREDFLOW_SANDBOX_MEMORY_MB,
      stepTimeoutMs: s.CREDFLOW_STEP_TIMEOUT_MS,
      runTimeoutMs: s.CREDFLOW_RUN_TIMEOUT_MS,
      maxResponseBytes: s.CREDFLOW_MAX_RESPONSE_BYTES,
      maxBridgeCalls: s.CREDFLOW_SANDBOX_MAX_BRIDGE_CALLS,
      maxLogBytes: s.CREDFLOW_SANDBOX_MAX_LOG_BYTES,
      maxLogLines: s.CREDFLOW_SANDBOX_MAX_LOG_LINES,
      maxRunLogBytes: s.CREDFLOW_RUN_MAX_LOG_BYTES,
      maxRunLogLines: s.CREDFLOW_RUN_MAX_LOG_LINES,
      prewarm: s.CREDFLOW_SANDBOX_PREWARM,
      workers: s.CREDFLOW_SANDBOX_WORKERS,
      concurrency: s.CREDFLOW_SANDBOX_WORKER_CONCURRENCY,
      queueMax: s.CREDFLOW_SANDBOX_QUEUE_MAX,
      workerMaxRssMb: s.CREDFLOW_SANDBOX_WORKER_MAX_RSS_MB,
    },
    previewMaxBytes: s.CREDFLOW_PREVIEW_MAX_BYTES,
    poolMax: s.CREDFLOW_POOL_MAX,
    upstreamMaxConnections: s.CREDFLOW_UPSTREAM_MAX_CONNECTIONS,
    connectTimeoutMs: s.CREDFLOW_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: s.CREDFLOW_STATEMENT_TIMEOUT_MS,
    queryMaxRows: s.CREDFLOW_QUERY_MAX_ROWS,
    queryMaxBytes: s.CREDFLOW_QUERY_MAX_BYTES,
    queryMaxMessageBytes: s.CREDFLOW_QUERY_MAX_MESSAGE_BYTES,
    cache: {
      ttlSeconds: s.CREDFLOW_CACHE_TTL_SECONDS,
      maxStaleSeconds: s.CREDFLOW_MAX_STALE_SECONDS,
      maxEntries: s.CREDFLOW_CACHE_MAX_ENTRIES,
    },
    masker: { maxSecrets: s.CREDFLOW_MASKER_MAX_SECRETS, maxBytes: s.CREDFLOW_MASKER_MAX_BYTES },
    authRetries: s.CREDFLOW_AUTH_RETRIES,
    rotationWaitMs: s.CREDFLOW_ROTATION_WAIT_MS,
    rdsIamTokenReuseMs: s.CREDFLOW_RDS_IAM_TOKEN_REUSE_SECONDS * 1000,
    http: {
      requestTimeoutMs: s.CREDFLOW_HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: s.CREDFLOW_HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: s.CREDFLOW_HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: s.CREDFLOW_HTTP_MAX_CONNECTIONS,
      authFailureLimit: s.CREDFLOW_HTTP_AUTH_FAILURE_LIMIT,
      authFailureWindowMs: s.CREDFLOW_HTTP_AUTH_FAILURE_WINDOW_SECONDS * 1000,
      authFailureAddresses: s.CREDFLOW_HTTP_AUTH_FAILURE_ADDRESSES,
    },
    httpBridge: {
      maxBytes: s.CREDFLOW_HTTP_BRIDGE_MAX_BYTES,
      timeoutMs: s.CREDFLOW_HTTP_BRIDGE_TIMEOUT_MS,
      allowLoopback: s.CREDFLOW_HTTP_BRIDGE_ALLOW_LOOPBACK === 'true',
      caFile: s.CREDFLOW_HTTP_BRIDGE_CA_FILE,
    },
    defaultProfile: s.CREDFLOW_DEFAULT_PROFILE,
    vault: vaultSettings(s),
    profiles: [
      ...new Set([
        s.CREDFLOW_DEFAULT_PROFILE,
        ...(s.CREDFLOW_PROFILES ?? '')
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p.length > 0),
      ]),
    ],
  };
}

const envPrefix = 'CREDFLOW_AGENT_APP_ENV_';

/** `CREDFLOW_AGENT_APP_ENV_AWS_ACCESS_KEY_ID` becomes `aws_access_key_id`, as Superblocks does. */
export function readAppEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(envPrefix) && key.length > envPrefix.length && value !== undefined) {
      out[key.slice(envPrefix.length).toLowerCase()] = value;
    }
  }
  return out;
}
