import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export interface ConfigWatcher {
  close(): void;
}

/**
 * Calls `onChange` once the files under `dir`/workflows and `dir`/integrations have been quiet for
 * `debounceMs`. Editors often save by writing a new file and renaming it over the old one: watching
 * the folders (not the files) sees those writes too, and the debounce turns their bursts into one
 * reload. A folder that does not exist is not watched.
 */
export function watchConfig(dir: string, onChange: () => void, logger: Logger, debounceMs = 200): ConfigWatcher {
  let timer: NodeJS.Timeout | undefined;
  const changed = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const sub of ['workflows', 'integrations']) {
    const folder = path.join(dir, sub);
    try {
      // Recursive, for codeFile steps in folders under workflows/.
      const watcher = watch(folder, { recursive: true, persistent: false }, changed);
      watcher.on('error', (error) =>
        logger.warn(
          { event: 'config.watch', folder, outcome: 'error', error: error.message },
          'watching the configuration failed',
        ),
      );
      watchers.push(watcher);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        logger.warn(
          { event: 'config.watch', folder, outcome: 'error', error: (error as Error).message },
          'cannot watch the configuration',
        );
      }
    }
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
