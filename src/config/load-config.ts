import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { CredflowError, isCredflowError, messageOf } from '../errors.js';
import { compileFields, type CompiledFields } from '../templates/index.js';
import { StepCodeChecker } from './check-step-code.js';
import { parseResolvedConnection } from './connection-schema.js';
import { expandEnv, expandText } from './expand-env.js';
import { formatPath, formatZodIssues, oneLine } from './format-issue.js';
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
 * with zod and checks the references between them, and everything else that can be known without
 * running anything: step code compiles (in an isolate of its own, never run), templates parse, and
 * literal connection fields pass the schema used at connect time. Never throws for bad files: every
 * problem becomes one line in `problems`, and only valid files are kept.
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
  /** Workflow files that exist but failed to load, by name, so integrations using them say so. */
  const broken = new Set<string>();

  const checker = new StepCodeChecker();
  try {
    for (const file of await listJson(dir, 'workflows', problems)) {
      const workflow = await loadWorkflow(dir, file, env, problems, checker);
      if (!workflow) {
        broken.add(path.basename(file, '.json'));
        continue;
      }
      if (workflows.has(workflow.name)) {
        problems.push(
          `${file}: name: workflow "${workflow.name}" is also defined in ${workflows.get(workflow.name)?.file}`,
        );
        continue;
      }
      workflows.set(workflow.name, workflow);
    }
  } finally {
    checker.dispose();
  }
  for (const file of await listJson(dir, 'integrations', problems)) {
    const integration = await loadIntegration(dir, file, env, problems, { workflows, broken });
    if (!integration) continue;
    if (integrations.has(integration.name)) {
      problems.push(
        `${file}: name: integration "${integration.name}" is also defined in ${integrations.get(integration.name)?.file}`,
      );
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
  return stat(target).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function listJson(dir: string, sub: string, problems: string[]): Promise<string[]> {
  try {
    const names = await readdir(path.join(dir, sub));
    return names
      .filter((n) => n.endsWith('.json'))
      .sort()
      .map((n) => `${sub}/${n}`);
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
    problems.push(
      `${file}: ${position === undefined ? '(root)' : lineAndColumn(text, Number(position))}: not valid JSON`,
    );
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

function expanded(
  file: string,
  document: unknown,
  env: NodeJS.ProcessEnv,
  problems: string[],
  skip?: (p: (string | number)[]) => boolean,
): unknown {
  try {
    return expandEnv(document, file, env, skip);
  } catch (error) {
    problems.push(isCredflowError(error) ? error.message : `${file}: ${messageOf(error)}`);
    return undefined;
  }
}

async function loadWorkflow(
  dir: string,
  file: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
  checker: StepCodeChecker,
): Promise<Workflow | undefined> {
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

interface KnownWorkflows {
  readonly workflows: ReadonlyMap<string, Workflow>;
  readonly broken: ReadonlySet<string>;
}

async function loadIntegration(
  dir: string,
  file: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
  known: KnownWorkflows,
): Promise<Integration | undefined> {
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
  const dynamic = parsed.fetchCredentialsDynamically?.enabled ? parsed.fetchCredentialsDynamically : undefined;
  // Before the templates: a misspelled workflow name would otherwise be reported as a bad template root.
  if (dynamic && !known.workflows.has(dynamic.workflow)) {
    const why = known.broken.has(dynamic.workflow)
      ? `workflow ${dynamic.workflow} is invalid (see its problems)`
      : `workflow ${dynamic.workflow} not found (workflows: ${[...known.workflows.keys()].join(', ') || 'none'})`;
    problems.push(`${file}: fetchCredentialsDynamically.workflow: ${why}`);
    return undefined;
  }
  let templates: CompiledFields;
  try {
    // Templates are compiled from the connection as written, and `${VAR}` is expanded only in the
    // text around them: a value from the environment arrives as it is, never read as a template.
    const writtenConnection = (written as { connection: Record<string, unknown> }).connection;
    templates = compileFields(writtenConnection, parsed.name, 'connection', (text, field) =>
      expandText(text, file, field, env),
    );
  } catch (error) {
    problems.push(`${file}: ${isCredflowError(error) ? error.message : messageOf(error)}`);
    return undefined;
  }
  for (const templatePath of templates.paths) {
    const root = templatePath.split(/[.[]/, 1)[0] ?? '';
    const allowed = root === 'Env' || (dynamic !== undefined && (root === 'credentials' || root === dynamic.workflow));
    if (!allowed) {
      const expected = dynamic
        ? `"${dynamic.workflow}", "credentials" or "Env"`
        : '"Env" (turn on fetchCredentialsDynamically to use a workflow)';
      problems.push(`${file}: connection: template <<${templatePath}>> must start with ${expected}`);
      return undefined;
    }
  }
  const literalProblems = checkLiteralFields(file, parsed.connection, templates);
  if (literalProblems.length > 0) {
    problems.push(...literalProblems);
    return undefined;
  }
  return { ...parsed, file, written, templates };
}

/**
 * The connection's fields without templates are known now: they must pass the schema used at
 * connect time (port range, a missing database, ...). Fields with templates are judged when rendered.
 */
function checkLiteralFields(file: string, connection: Record<string, unknown>, templates: CompiledFields): string[] {
  const templated = new Set(templates.fields);
  const literal: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(connection)) literal[key] = templated.has(key) ? undefined : value;
  const result = parseResolvedConnection(literal);
  if (result.success) return [];
  return result.error.issues
    .filter((issue) => !templated.has(String(issue.path[0])))
    .map((issue) => `${file}: connection.${formatPath(issue.path)}: ${messageOfIssue(issue)}`);
}

/** A union's "Invalid input" says nothing: the first option's specific complaint does. */
function messageOfIssue(issue: z.core.$ZodIssue): string {
  if (issue.code !== 'invalid_union') return issue.message;
  const specific = issue.errors.flat().find((inner) => inner.code !== 'invalid_type');
  return specific?.message ?? issue.message;
}
