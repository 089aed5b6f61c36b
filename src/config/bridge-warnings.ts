import { bridgePathsIn, closestBridgePath, functionsBeside, functionsReachedBy } from './bridge-calls.js';
import type { Workflow, WorkflowStep } from './loaded-config.js';

/**
 * What `credflow validate` warns of in a workflow's step code, from the static scan of
 * bridge-calls.ts: a call the bridge does not have (it would fail at run time), `http.fetch`
 * without `allowedHosts`, and a role assumed without `allowedRoles` (both would be refused). A
 * warning, not a problem: the scan reads text, so it may be wrong, and the configuration still loads.
 * One line each, `file: json.path: message`, like the problems.
 */
export function bridgeWarnings(workflow: Workflow): string[] {
  const warnings: string[] = [];
  let fetches: string | undefined;
  let assumesRole: string | undefined;
  for (const [index, step] of workflow.steps.entries()) {
    const where = `${workflow.file}: ${fieldOf(step, index)}: step "${step.name}"`;
    for (const use of bridgePathsIn(step.code)) {
      const reached = functionsReachedBy(use.path);
      if (reached.some((f) => f.path === 'http.fetch')) fetches ??= step.name;
      if (reached.some((f) => f.path.startsWith('aws.')) && /\broleArn\s*:/.test(step.code)) assumesRole ??= step.name;
      if (reached.length > 0) continue;
      warnings.push(`${where}, line ${use.line}: ${use.path} is not a bridge function${hint(use.path)}`);
    }
  }
  if (fetches !== undefined && (workflow.allowedHosts ?? []).length === 0)
    warnings.push(
      `${workflow.file}: allowedHosts: step "${fetches}" calls http.fetch, but the workflow allows no host: every call will be refused`,
    );
  if (assumesRole !== undefined && (workflow.allowedRoles ?? []).length === 0)
    warnings.push(
      `${workflow.file}: allowedRoles: step "${assumesRole}" passes a roleArn, but the workflow allows no role: the call will be refused`,
    );
  return warnings;
}

function fieldOf(step: WorkflowStep, index: number): string {
  return step.source === 'inline' ? `steps[${index}].code` : `steps[${index}].codeFile (${step.source})`;
}

function hint(path: string): string {
  const closest = closestBridgePath(path);
  if (closest) return ` (did you mean ${closest}?)`;
  const beside = functionsBeside(path);
  if (beside.length > 0) return ` (known: ${beside.join(', ')})`;
  return ' (docs/workflows-and-sandbox.md lists the bridge functions)';
}
