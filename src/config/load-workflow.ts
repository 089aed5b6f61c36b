import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import type { StepCodeChecker } from './check-step-code.js';
import type { Workflow, WorkflowStep } from './loaded-config.js';
import { readConfigFile } from './read-document.js';
import { workflowSchema } from './workflow-schema.js';

/** One workflow file: parsed, its code files read, every step compiled (never run); undefined after a problem. */
export async function loadWorkflow(
  dir: string,
  file: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
  checker: StepCodeChecker,
): Promise<Workflow | undefined> {
  // Step code is JavaScript: `${...}` there belongs to template literals, not to the environment.
  const stepCode = (p: (string | number)[]) => p[0] === 'steps' && p[2] === 'code';
  const read = await readConfigFile(dir, file, env, problems, workflowSchema, stepCode);
  if (!read) return undefined;
  const { written, parsed } = read;
  const steps: WorkflowStep[] = [];
  for (const [index, step] of parsed.steps.entries()) {
    if (step.code !== undefined) {
      steps.push({ name: step.name, code: step.code, source: 'inline' });
      continue;
    }
    const codeFile = await readCodeFile(dir, file, index, step.codeFile ?? '', problems);
    if (codeFile === undefined) return undefined;
    steps.push({ name: step.name, code: codeFile.code, source: codeFile.path });
  }
  let compiles = true;
  for (const [index, step] of steps.entries()) {
    const cause = checker.check(
      step.code,
      steps.slice(0, index).map((s) => s.name),
    );
    if (cause === undefined) continue;
    const field = step.source === 'inline' ? `steps[${index}].code` : `steps[${index}].codeFile (${step.source})`;
    problems.push(`${file}: ${field}: step "${step.name}" does not compile: ${cause}`);
    compiles = false;
  }
  if (!compiles) return undefined;
  return {
    name: parsed.name,
    file,
    description: parsed.description,
    params: parsed.params ?? {},
    limits: parsed.limits ?? {},
    allowedSecrets: parsed.allowedSecrets,
    allowedRoles: parsed.allowedRoles,
    allowedVaultPaths: parsed.allowedVaultPaths,
    allowedHosts: parsed.allowedHosts,
    allowedParameters: parsed.allowedParameters,
    steps,
    written,
  };
}

async function readCodeFile(
  dir: string,
  file: string,
  index: number,
  codeFile: string,
  problems: string[],
): Promise<{ path: string; code: string } | undefined> {
  const workflowsDir = path.resolve(dir, 'workflows');
  const target = path.resolve(workflowsDir, codeFile);
  if (!target.startsWith(workflowsDir + path.sep)) {
    problems.push(`${file}: steps[${index}].codeFile: "${codeFile}" must stay inside workflows/`);
    return undefined;
  }
  try {
    const code = await readFile(target, 'utf8');
    return { path: path.relative(dir, target), code };
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : messageOf(error);
    problems.push(`${file}: steps[${index}].codeFile: ${codeFile}: ${reason}`);
    return undefined;
  }
}
