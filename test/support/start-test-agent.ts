import type { TokenSpec } from '../../src/access/index.js';
import type { Resolver } from '../../src/secrets/index.js';
import { startAgent, type RunningAgent } from '../../src/agent/index.js';
import { startLocalSecretsManager, type AwsKeyPair, type LocalSecretsManager } from './local-secrets-manager/index.js';
import { captureLogs } from './capture-logs.js';
import { writeConfigDir, type ConfigFiles } from './config-dir.js';
import { findLeaks, secretsIn, type Capture } from './leak-check.js';

export interface TestAgent {
  agent: RunningAgent;
  secrets: LocalSecretsManager;
  url: string;
  token: string;
  dir: string;
  logs: ReturnType<typeof captureLogs>;
  /** Every value the Secrets Manager endpoint was ever given, in order (the leak search's list). */
  storedValues(): string[];
  /** Values another store (an HTTP API the test serves) holds: searched on close like stored ones. */
  addStoredValues(...values: string[]): void;
  /** Every response body the test received through `request`, for leak searches. */
  bodies: string[];
  /** Responses to previews that asked to reveal; the only place a secret may appear. */
  revealed: string[];
  /** Other output that must not carry secrets either (CLI output, ...), searched on close. */
  alsoSearch: Capture[];
  /** `token` is sent as `Bearer <token>` (default: `token` above); null sends no Authorization header. */
  request(
    method: string,
    route: string,
    body?: unknown,
    token?: string | null | { authorization: string },
  ): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

/** The key pair the test agent signs with; the local endpoint accepts it (and `options.awsCredentials`). */
export const testAgentAwsCredentials = { accessKeyId: 'AKIDAGENT', secretAccessKey: 'q7Rz2Kp9Xv4Lw8Tn3Hj6Bc1Fd5Gm0Ys' };

/**
 * The real thing on a random port: the express app and agent over a config folder, talking through
 * the real AWS SDK to a local Secrets Manager endpoint on loopback.
 */
export async function startTestAgent(
  config: ConfigFiles,
  env: NodeJS.ProcessEnv = {},
  /**
   * `tokens`: the agent's tokens (default two full-access ones); 'configured' leaves them to `env`.
   * `awsCredentials`: more key pairs the endpoint accepts (e.g. ones a step passes), besides the agent's.
   */
  options: {
    tokens?: readonly (string | TokenSpec)[] | 'configured';
    watch?: boolean;
    reloadOnSighup?: boolean;
    awsCredentials?: readonly AwsKeyPair[];
    /** The clock deciding when the agent signs a new RDS IAM token (see OpenAgentOptions.rdsIamNow). */
    rdsIamNow?: () => number;
    /** DurationSeconds the agent asks of AssumeRole (the local endpoint accepts down to 1). */
    assumeRoleDurationSeconds?: number;
    /** 'default-chain': configure no credentials, so the agent's come from the SDK's default chain. */
    agentCredentials?: 'default-chain';
    /** More secrets the leak search on close looks for (another store's values, e.g. the local Vault's). */
    moreSecrets?: () => Iterable<string>;
    /** How http.fetch resolves names (default: the system's resolver). */
    httpResolver?: Resolver;
  } = {},
): Promise<TestAgent> {
  // Every value the endpoint is given, for the leak search on close: the endpoint itself forgets
  // values once their version or secret is gone.
  const everStored = new Set<string>();
  const secrets = await startLocalSecretsManager({
    credentials: [testAgentAwsCredentials, ...(options.awsCredentials ?? [])],
    onValueStored: (value) => everStored.add(value),
  });
  const folder = await writeConfigDir(config);
  const captured = captureLogs();
  // Per-request lines are written in batches; reading the logs first writes what is queued.
  let flushLogs = (): void => undefined;
  const logs: ReturnType<typeof captureLogs> = {
    write: (line: string) => captured.write(line),
    get lines() {
      flushLogs();
      return captured.lines;
    },
    text() {
      flushLogs();
      return captured.text();
    },
  };
  const token = 'test-token-0123456789';
  const tokens = options.tokens ?? [token, 'second-token-abcdef'];
  const agent = await startAgent({
    dir: folder.dir,
    env: { CREDFLOW_LOG_LEVEL: 'debug', ...env },
    port: 0,
    host: '127.0.0.1',
    ...(tokens === 'configured' ? {} : { tokens }),
    ...(options.watch === undefined ? {} : { watch: options.watch }),
    ...(options.reloadOnSighup === undefined ? {} : { reloadOnSighup: options.reloadOnSighup }),
    ...(options.rdsIamNow ? { rdsIamNow: options.rdsIamNow } : {}),
    ...(options.httpResolver ? { httpResolver: options.httpResolver } : {}),
    logDestination: captured,
    secrets: {
      endpoint: secrets.url,
      defaultRegion: 'us-east-1',
      ...(options.agentCredentials === 'default-chain' ? {} : { defaultCredentials: testAgentAwsCredentials }),
    },
    ...(options.assumeRoleDurationSeconds === undefined
      ? {}
      : { assumeRole: { durationSeconds: options.assumeRoleDurationSeconds } }),
  }).catch(async (error: unknown) => {
    await secrets.close();
    await folder.remove();
    throw error;
  });
  flushLogs = () => agent.parts.flushLogs();
  const bodies: string[] = [];
  const revealed: string[] = [];
  const sent: Capture[] = [];
  const alsoSearch: Capture[] = [];
  return {
    agent,
    secrets,
    url: agent.url,
    token,
    dir: folder.dir,
    logs,
    storedValues: () => [...everStored],
    addStoredValues: (...values) => values.forEach((value) => everStored.add(value)),
    bodies,
    revealed,
    alsoSearch,
    async request(method, route, body, useToken = token) {
      const headers: Record<string, string> = {};
      if (typeof useToken === 'string') headers.authorization = `Bearer ${useToken}`;
      else if (useToken !== null) headers.authorization = useToken.authorization;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${agent.url}${route}`, {
        method,
        headers,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      const asksReveal =
        body !== undefined &&
        (typeof body === 'string' ? /"reveal"\s*:\s*true/.test(body) : (body as { reveal?: unknown }).reveal === true);
      if (asksReveal) revealed.push(text);
      else sent.push({ where: `${method} ${route} (response ${bodies.length})`, text });
      bodies.push(text);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: res.status, body: parsed, text };
    },
    /**
     * Stops everything, then searches every log line, every response (but those that asked to
     * reveal) and `alsoSearch` for every secret the Secrets Manager endpoint ever held, in each of
     * its derived forms: the leak test that runs over every scenario of every file using this.
     */
    async close() {
      await agent.close();
      await secrets.close();
      await folder.remove();
      const captures = [...logs.lines.map((text, i) => ({ where: `log line ${i}`, text })), ...sent, ...alsoSearch];
      const leaks = findLeaks(captures, secretsIn([...everStored, ...(options.moreSecrets?.() ?? [])]));
      if (leaks.length > 0)
        throw new Error(`secrets leaked into ${leaks.length} place(s):\n${leaks.slice(0, 20).join('\n')}`);
    },
  };
}
