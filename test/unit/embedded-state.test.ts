import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  claimEmbeddedState,
  readEmbeddedState,
  removeEmbeddedState,
  updateEmbeddedState,
} from '../../src/embedded/embedded-state.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A live process that is not a credflow agent nor a postgres (as a reused pid would be). */
const bystander = () => live('sleep', ['60']);

/** A live process whose command line names credflow, as a running agent's does. */
const agentLike = () => live(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'credflow', 'serve']);

function live(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: 'ignore' });
  cleanup.push(async () => {
    child.kill('SIGKILL');
  });
  return child;
}

const write = async (dir: string, record: unknown) => {
  await mkdir(path.join(dir, '.credflow'), { recursive: true });
  await writeFile(path.join(dir, '.credflow', 'embedded.json'), JSON.stringify(record));
};

describe('the embedded state file', () => {
  it('is claimed by a start in an empty folder, filled in as it starts, and removed by its owner', async () => {
    const dir = await tempDir('credflow-state-');
    expect(await claimEmbeddedState(dir)).toEqual([]);
    expect(await readEmbeddedState(dir)).toBeUndefined();
    await updateEmbeddedState(dir, {
      secretsEndpoint: 'http://127.0.0.1:1',
      region: 'us-east-1',
      agentUrl: 'http://127.0.0.1:2',
    });
    expect(JSON.parse(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8'))).toEqual({
      pid: process.pid,
      secretsEndpoint: 'http://127.0.0.1:1',
      region: 'us-east-1',
      agentUrl: 'http://127.0.0.1:2',
    });
    await removeEmbeddedState(dir);
    expect(existsSync(path.join(dir, '.credflow'))).toBe(false);
  });

  it('treats a recorded pid now used by another program as a dead agent, and never signals that program or a pid that does not serve the data dir', async () => {
    const dir = await tempDir('credflow-state-');
    const dataDir = await tempDir('credflow-pg-');
    const passwordDir = await tempDir('credflow-pgpw-');
    const other = bystander();
    await write(dir, {
      pid: other.pid,
      agentUrl: 'http://127.0.0.1:9',
      postgres: { dataDir, passwordDir, pid: other.pid },
    });

    const cleaned = await claimEmbeddedState(dir);
    cleanup.push(() => removeEmbeddedState(dir));

    expect(cleaned[0]).toBe(
      `the embedded agent (pid ${other.pid}) that last ran from ${dir} is gone without cleaning up:`,
    );
    expect(cleaned).toContain(`removed ${dataDir}`);
    expect(cleaned.some((line) => line.startsWith('stopped'))).toBe(false);
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
    expect(existsSync(dataDir)).toBe(false);
    expect(JSON.parse(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8'))).toEqual({
      pid: process.pid,
    });
  });

  it('removes no folder a state file names unless credflow made it', async () => {
    const dir = await tempDir('credflow-state-');
    const precious = await tempDir('precious-');
    await write(dir, { pid: 2 ** 22 + 1, postgres: { dataDir: precious, passwordDir: precious } });

    const cleaned = await claimEmbeddedState(dir);
    cleanup.push(() => removeEmbeddedState(dir));

    expect(cleaned).toContain(`left ${precious} and ${precious} alone: not folders credflow creates`);
    expect(existsSync(precious)).toBe(true);
  });

  it('refuses while the recorded agent lives, naming its pid and URL, and leaves its file as it was', async () => {
    const dir = await tempDir('credflow-state-');
    const agent = agentLike();
    // Until its exec, a child's command line is its parent's.
    while (!(await readFile(`/proc/${agent.pid}/cmdline`, 'utf8').catch(() => '')).includes('credflow'))
      await sleep(10);
    await write(dir, { pid: agent.pid, agentUrl: 'http://127.0.0.1:8080' });
    const before = await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8');

    await expect(claimEmbeddedState(dir)).rejects.toMatchObject({
      code: 'EMBEDDED_ALREADY_RUNNING',
      message: expect.stringContaining(
        `another embedded credflow agent (pid ${agent.pid}) already runs from ${dir} at http://127.0.0.1:8080`,
      ),
    });
    expect(await readFile(path.join(dir, '.credflow', 'embedded.json'), 'utf8')).toBe(before);
  });
});
