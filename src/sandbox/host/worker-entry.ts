import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CredflowError } from '../../errors.js';

const here = fileURLToPath(import.meta.url);

/**
 * The compiled worker script. From dist/ it is the guest's worker-main.js; when the sources run as
 * TypeScript (the tests), the worker still runs from dist/, which `npm test` builds first.
 */
export function workerEntryPath(): string {
  const compiled = path.join(path.dirname(here), '..', 'guest', 'worker-main.js');
  if (here.endsWith('.js')) return compiled;
  const root = path.resolve(path.dirname(here), '../../..');
  const built = path.join(root, 'dist', 'sandbox', 'guest', 'worker-main.js');
  if (!existsSync(built)) {
    throw new CredflowError(
      'INTERNAL',
      `the sandbox worker is not built (${path.relative(root, built)} is missing): run npm run build`,
    );
  }
  return built;
}
