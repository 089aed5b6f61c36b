import type { Integration, LoadedConfig, Workflow } from '../config/index.js';
import { workflowOf } from './workflow-of.js';

export interface NameChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

export interface ConfigChanges {
  integrations: NameChanges;
  workflows: NameChanges;
}

/** What a workflow is, for comparison: its file as written and the code of its steps (codeFile included). */
const workflowKey = (w: Workflow): string =>
  JSON.stringify([w.written, w.steps.map((s) => [s.name, s.source, s.code])]);

function compare<T>(
  before: ReadonlyMap<string, T>,
  after: ReadonlyMap<string, T>,
  same: (a: T, b: T) => boolean,
): NameChanges {
  const changes: NameChanges = { added: [], changed: [], removed: [] };
  for (const [name, next] of after) {
    const previous = before.get(name);
    if (previous === undefined) changes.added.push(name);
    else if (!same(previous, next)) changes.changed.push(name);
  }
  for (const name of before.keys()) if (!after.has(name)) changes.removed.push(name);
  return changes;
}

/** What an integration is, for comparison: its file as written and the certificates of its CA file. */
const integrationKey = (i: Integration): string => JSON.stringify([i.written, i.caFile?.pem]);

/**
 * What a reload changes. An integration counts as changed when its file or its CA file changed, or
 * when the workflow it runs did: either way its cached responses and pools belong to the old config.
 */
export function configChanges(before: LoadedConfig, after: LoadedConfig): ConfigChanges {
  const workflows = compare(before.workflows, after.workflows, (a, b) => workflowKey(a) === workflowKey(b));
  const touched = new Set([...workflows.changed, ...workflows.removed]);
  const integrations = compare(before.integrations, after.integrations, (a, b) => {
    if (integrationKey(a) !== integrationKey(b)) return false;
    const workflow = workflowOf(a);
    return workflow === undefined || !touched.has(workflow);
  });
  return { integrations, workflows };
}

export const noChanges = (changes: ConfigChanges): boolean =>
  [changes.integrations, changes.workflows].every((c) => c.added.length + c.changed.length + c.removed.length === 0);
