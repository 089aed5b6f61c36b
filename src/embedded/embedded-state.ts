import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/**
 * While `npm start` runs, it leaves `.credflow/embedded.json` in its folder so that CLI commands in
 * another terminal can reach its local Secrets Manager endpoint. It holds no secret: only the
 * endpoint URL, region and the agent's pid.
 */
const stateSchema = z.object({ pid: z.number().int(), secretsEndpoint: z.url(), region: z.string(), agentUrl: z.url() });
export type EmbeddedState = z.infer<typeof stateSchema>;

const stateFile = (dir: string) => path.join(dir, '.credflow', 'embedded.json');

export async function writeEmbeddedState(dir: string, state: EmbeddedState): Promise<void> {
  await mkdir(path.dirname(stateFile(dir)), { recursive: true });
  await writeFile(stateFile(dir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export async function removeEmbeddedState(dir: string): Promise<void> {
  await rm(path.join(dir, '.credflow'), { recursive: true, force: true });
}

/** The state of a running embedded agent, or undefined when none runs for this folder. */
export async function readEmbeddedState(dir: string): Promise<EmbeddedState | undefined> {
  let parsed: EmbeddedState;
  try {
    parsed = stateSchema.parse(JSON.parse(await readFile(stateFile(dir), 'utf8')));
  } catch {
    return undefined;
  }
  try {
    process.kill(parsed.pid, 0);
    return parsed;
  } catch {
    return undefined;
  }
}
