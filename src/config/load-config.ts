import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { CredflowError, isCredflowError, messageOf } from '../errors.js';
import { compileFields, type CompiledFields } from '../templates/index.js';
import { expandEnv, expandText } from './expand-env.js';
import { formatZodIssues, oneLine } from './format-issue.js';
import { integrationSchema, type IntegrationFile } from './integration-schema.js';
import { workflowSchema, type SandboxLimitsOverride } from './workflow-schema.js';

export interface Integration extends IntegrationFile {
  /** Path of the file, relative to the config folder. */
  readonly file: string;
  /** The document exactly as written (before `${VAR}` expansion), for display. */
  readonly written: unknown;
  readonly templates: CompiledFields;
}

export interface WorkflowStep {
  readonly name: string;
  readonly code: string;
  /** `inline` or the codeFile path relative to the config folder. */
  readonly source: string;
}

export interface Workflow {
  readonly name: string;
  readonly file: string;
  readonly description: string | undefined;
  readonly params: Record<string, unknown>;
  readonly limits: SandboxLimitsOverride;
  /** SecretId patterns the workflow may read; undefined: any secret. */
  readonly allowedSecrets: readonly string[] | undefined;
  readonly steps: readonly WorkflowStep[];
  readonly written: unknown;
}

export interface LoadedConfig {
  readonly dir: string;
  readonly integrations: ReadonlyMap<string, Integration>;
  readonly workflows: ReadonlyMap<string, Workflow>;
  /** One line per problem, `file: json.path: message`; empty when the config is valid. */
  readonly problems: readonly string[];
}


/**
 * Reads `workflows/*.json` and `integrations/*.json` under `dir`, expands `${VAR}`, validates each file
 * with zod and checks the references between them. Never throws for bad files: every problem becomes
 * one line in `problems`, and only valid files are kept.
 */
export async function loadConfig(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const problems: string[] = [];
  const workflows = new Map<string, Workflow>();
  const found = await Promise.all(['', 'workflows', 'integrations'].map((sub) => isDirectory(path.join(dir, sub))));
  if (!found[0]) {
    problems.push(`${dir}: folder not found (it should hold workflows/ and integrations/)`);
  } else if (!found[1] && !found[2]) {
    problems.push(`${dir}: holds neither workflows/ nor integrations/ (pass --dir with the folder that does)`);
  }
  const integrations = new Map<string, Integration>();

  for (const file of await listJson(dir, 'workflows', problems)) {
    const workflow = await loadWorkflow(dir, file, env, problems);
    if (!workflow) continue;
    if (workflows.has(workflow.name)) {
      problems.push(`${file}: name: workflow "${workflow.name}" is also defined in ${workflows.get(workflow.name)?.file}`);
      continue;
    }
    workflows.set(workflow.name, workflow);
  }
  for (const file of await listJson(dir, 'integrations', problems)) {
    const integration = await loadIntegration(dir, file, env, problems);
    if (!integration) continue;
    if (integrations.has(integration.name)) {
      problems.push(`${file}: name: integration "${integration.name}" is also defined in ${integrations.get(integration.name)?.file}`);
      continue;
    }
    const dynamic = integration.fetchCredentialsDynamically;
    if (dynamic?.enabled && !workflows.has(dynamic.workflow)) {
      problems.push(`${file}: fetchCredentialsDynamically.workflow: no workflow named "${dynamic.workflow}" in workflows/`);
      continue;
    }
    integrations.set(integration.name, integration);
  }
  return { dir, integrations, workflows, problems: problems.map(oneLine) };
}

/** Like loadConfig, but a config with any problem is a CONFIG_INVALID error listing them all. */
export async function loadValidConfig(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const config = await loadConfig(dir, env);
  if (config.problems.length > 0) {
    throw new CredflowError('CONFIG_INVALID', `invalid configuration in ${dir}:\n${config.problems.join('\n')}`, {
      details: { problems: config.problems },
    });
  }
  return config;
}

async function isDirectory(target: string): Promise<boolean> {
  return stat(target).then((s) => s.isDirectory(), () => false);
}

async function listJson(dir: string, sub: string, problems: string[]): Promise<string[]> {
  try {
    const names = await readdir(path.join(dir, sub));
    return names.filter((n) => n.endsWith('.json')).sort().map((n) => `${sub}/${n}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${sub}/: ${messageOf(error)}`);
    return [];
  }
}

async function readDocument(dir: string, file: string, problems: string[]): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path.join(dir, file), 'utf8');
  } catch (error) {
    problems.push(`${file}: ${messageOf(error)}`);
    return undefined;
  }
  // Editors on Windows may save a byte-order mark; JSON.parse would refuse it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8's message quotes a snippet of the file, which may hold a secret: only the place is reported.
    const position = /position (\d+)/.exec(messageOf(error))?.[1];
    problems.push(`${file}: ${position === undefined ? '(root)' : lineAndColumn(text, Number(position))}: not valid JSON`);
    return undefined;
  }
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `line ${line}, column ${position - before.lastIndexOf('\n')}`;
}

function parseWith<T>(schema: z.ZodType<T>, file: string, document: unknown, problems: string[]): T | undefined {
  const result = schema.safeParse(document);
  if (result.success) return result.data;
  problems.push(...formatZodIssues(file, result.error));
  return undefined;
}

function expanded(file: string, document: unknown, env: NodeJS.ProcessEnv, problems: string[], skip?: (p: (string | number)[]) => boolean): unknown {
  try {
    return expandEnv(document, file, env, skip);
  } catch (error) {
    problems.push(isCredflowError(error) ? error.message : `${file}: ${messageOf(error)}`);
    return undefined;
  }
}

async function loadWorkflow(dir: string, file: string, env: NodeJS.ProcessEnv, problems: string[]): Promise<Workflow | undefined> {
  const written = await readDocument(dir, file, problems);
  if (written === undefined) return undefined;
  // Step code is JavaScript: `${...}` there belongs to template literals, not to the environment.
  const document = expanded(file, written, env, problems, (p) => p[0] === 'steps' && p[2] === 'code');
  if (document === undefined) return undefined;
  const parsed = parseWith(workflowSchema, file, document, problems);
  if (!parsed) return undefined;
  const stem = path.basename(file, '.json');
  if (parsed.name !== stem) {
    problems.push(`${file}: name: "${parsed.name}" must match the file name "${stem}"`);
    return undefined;
  }
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
  return {
    name: parsed.name,
    file,
    description: parsed.description,
    params: parsed.params ?? {},
    limits: parsed.limits ?? {},
    allowedSecrets: parsed.allowedSecrets,
    steps,
    written,
  };
}

async function readCodeFile(dir: string, file: string, index: number, codeFile: string, problems: string[]): Promise<{ path: string; code: string } | undefined> {
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

async function loadIntegration(dir: string, file: string, env: NodeJS.ProcessEnv, problems: string[]): Promise<Integration | undefined> {
  const written = await readDocument(dir, file, problems);
  if (written === undefined) return undefined;
  const document = expanded(file, written, env, problems);
  if (document === undefined) return undefined;
  const parsed = parseWith(integrationSchema, file, document, problems);
  if (!parsed) return undefined;
  const stem = path.basename(file, '.json');
  if (parsed.name !== stem) {
    problems.push(`${file}: name: "${parsed.name}" must match the file name "${stem}"`);
    return undefined;
  }
  let templates: CompiledFields;
  try {
    // Templates are compiled from the connection as written, and `${VAR}` is expanded only in the
    // text around them: a value from the environment arrives as it is, never read as a template.
    const writtenConnection = (written as { connection: Record<string, unknown> }).connection;
    templates = compileFields(writtenConnection, parsed.name, 'connection', (text, field) => expandText(text, file, field, env));
  } catch (error) {
    problems.push(`${file}: ${isCredflowError(error) ? error.message : messageOf(error)}`);
    return undefined;
  }
  const dynamic = parsed.fetchCredentialsDynamically?.enabled ? parsed.fetchCredentialsDynamically : undefined;
  for (const templatePath of templates.paths) {
    const root = templatePath.split(/[.[]/, 1)[0] ?? '';
    const allowed = root === 'Env' || (dynamic !== undefined && (root === 'credentials' || root === dynamic.workflow));
    if (!allowed) {
      const expected = dynamic ? `"${dynamic.workflow}", "credentials" or "Env"` : '"Env" (turn on fetchCredentialsDynamically to use a workflow)';
      problems.push(`${file}: connection: template <<${templatePath}>> must start with ${expected}`);
      return undefined;
    }
  }
  return { ...parsed, file, written, templates };
}
