import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BenchSetup } from './bench-setup.ts';

export interface ChildServer {
  url: string;
  pid: number;
  rssMb(): Promise<number>;
  stop(): Promise<void>;
}

const bin = fileURLToPath(new URL('../bin/credflow.js', import.meta.url));
const baseline = fileURLToPath(new URL('./baseline-server.ts', import.meta.url));
export const benchToken = 'bench-token-0123456789abcdef';

function start(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpMatchArray }> {
  const child = spawn(process.execPath, ['--no-node-snapshot', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr?.resume();
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start`)), 60_000);
    lines.on('line', (line) => {
      const match = ready.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

function handle(child: ChildProcess, url: string): ChildServer {
  return {
    url,
    pid: child.pid ?? 0,
    async rssMb() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
      return kb / 1024;
    },
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

/** `credflow serve` over the bench config, reaching the endpoint through the AWS SDK's environment. */
export async function startAgentProcess(
  setup: BenchSetup,
  extraEnv: Record<string, string> = {},
): Promise<ChildServer> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: setup.secrets.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: setup.secrets.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: setup.secrets.credentials.secretAccessKey,
    CREDFLOW_API_TOKENS: benchToken,
    CREDFLOW_LOG_LEVEL: 'info',
    ...extraEnv,
  };
  const { child, match } = await start(
    [bin, 'serve', '--dir', setup.dir, '--port', '0'],
    env,
    /listening on (http:\/\/\S+)/,
  );
  // The agent logs a line per resolution to stdout: keep reading so the pipe never blocks it.
  child.stdout?.resume();
  return handle(child, match[1] ?? '');
}

/** The minimal express + pg endpoint, with the demo database's password given directly. */
export async function startBaselineProcess(setup: BenchSetup): Promise<ChildServer> {
  const env = {
    PATH: process.env.PATH ?? '',
    PGHOST: setup.demo.host,
    PGPORT: String(setup.demo.port),
    PGUSER: setup.demo.username,
    PGPASSWORD: setup.demo.password,
    PGDATABASE: setup.demo.dbname,
  };
  const { child, match } = await start([baseline], env, /listening (\d+)/);
  child.stdout?.resume();
  return handle(child, `http://127.0.0.1:${match[1]}`);
}
