import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** What `.credflow/embedded.json` holds once the embedded agent listens (the CLI reads the same file). */
export interface EmbeddedAgent {
  url: string;
  secretsEndpoint: string;
  region: string;
  secretsCredentials: { accessKeyId: string; secretAccessKey: string };
  /** Stops the agent with SIGTERM, as Ctrl-C on `npm start` does; resolves once it has exited. */
  stop(): Promise<void>;
}

const bin = fileURLToPath(new URL('../bin/credflow.js', import.meta.url));
const startTimeoutMs = 120_000;
// A clean stop drains the pools and stops PostgreSQL; past this the agent is killed.
const stopTimeoutMs = 30_000;

/**
 * Starts the agent exactly as `npm start` does, on the folder `dir`, with `token` as its only API
 * token: the embedded agent otherwise generates one and prints it, and every route, /metrics
 * included, asks for one even from loopback.
 */
export async function startEmbeddedAgentProcess(dir: string, token: string): Promise<EmbeddedAgent> {
  const child = spawn(
    process.execPath,
    ['--no-node-snapshot', bin, 'serve', '--embedded', '--dir', dir, '--port', '0'],
    { env: { ...process.env, CREDFLOW_API_TOKENS: token }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // Kept for the error of a failed start; the agent masks secrets in what it writes.
  const lastLines: string[] = [];
  const keep = (line: string) => lastLines.push(line) > 10 && lastLines.shift();
  createInterface({ input: child.stderr }).on('line', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await exited;
    clearTimeout(timer);
  };

  try {
    // The agent logs a line per request to stdout: it is read to the end, so the pipe never blocks it.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening after ${startTimeoutMs} ms`)), startTimeoutMs);
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (/^credflow agent listening on /.test(line)) {
          clearTimeout(timer);
          resolve();
        } else if (!line.startsWith('{')) keep(line);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${signal ?? code}`));
      });
    });
    const state = JSON.parse(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8')) as Omit<
      EmbeddedAgent,
      'url' | 'stop'
    > & { agentUrl: string };
    return {
      url: state.agentUrl,
      secretsEndpoint: state.secretsEndpoint,
      region: state.region,
      secretsCredentials: state.secretsCredentials,
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(
      `the embedded agent did not start: ${(error as Error).message}\n${lastLines.map((l) => `  | ${l}`).join('\n')}`,
      { cause: error },
    );
  }
}
