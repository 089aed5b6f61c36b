import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CredflowError } from '../../errors.js';

const here = fileURLToPath(import.meta.url);

/**
 * The compiled worker script. From dist/ it sits beside this file; when the sources run as
 * TypeScript (the tests), the worker still runs from dist/, which `npm test` builds first.
 */
export function workerEntryPath(): string {
  const beside = path.join(path.dirname(here), 'worker-main.js');
  if (here.endsWith('.js')) return beside;
  const root = path.resolve(path.dirname(here), '../../..');
  const built = path.join(root, 'dist', 'sandbox', 'worker', 'worker-main.js');
  if (!existsSync(built)) {
    throw new CredflowError(
      'INTERNAL',
      `the sandbox worker is not built (${path.relative(root, built)} is missing): run npm run build`,
    );
  }
  return built;
}
