import type { z } from 'zod';
import { isCredflowError, messageOf } from '../errors.js';
import { compileFields, type CompiledFields } from '../templates/index.js';
import { parseResolvedConnection } from './connection-schema.js';
import { expandText } from './expand-env.js';
import { formatPath } from './format-issue.js';
import { integrationSchema } from './integration-schema.js';
import type { Integration, Workflow } from './loaded-config.js';
import { readCaFile, type CaFile } from './read-ca-file.js';
import { readConfigFile } from './read-document.js';

export interface KnownWorkflows {
  readonly workflows: ReadonlyMap<string, Workflow>;
  readonly broken: ReadonlySet<string>;
}

/**
 * One integration file: parsed, its workflow known, its templates compiled and rooted where they may
 * be, its literal connection fields valid; undefined after a problem.
 */
export async function loadIntegration(
  dir: string,
  file: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
  known: KnownWorkflows,
): Promise<Integration | undefined> {
  const read = await readConfigFile(dir, file, env, problems, integrationSchema);
  if (!read) return undefined;
  const { written, parsed } = read;
  const dynamic = parsed.fetchCredentialsDynamically?.enabled ? parsed.fetchCredentialsDynamically : undefined;
  // Before the templates: a misspelled workflow name would otherwise be reported as a bad template root.
  if (dynamic && !known.workflows.has(dynamic.workflow)) {
    const why = known.broken.has(dynamic.workflow)
      ? `workflow ${dynamic.workflow} is invalid (see its problems)`
      : `workflow ${dynamic.workflow} not found (workflows: ${[...known.workflows.keys()].join(', ') || 'none'})`;
    problems.push(`${file}: fetchCredentialsDynamically.workflow: ${why}`);
    return undefined;
  }
  const caFileName = typeof parsed.connection.ssl === 'object' ? parsed.connection.ssl.caFile : undefined;
  let caFile: CaFile | undefined;
  if (caFileName !== undefined) {
    caFile = await readCaFile(dir, file, caFileName, problems);
    if (caFile === undefined) return undefined;
  }
  // From here on the file's certificates stand where caFile was, as ssl.ca: pg takes them so.
  const connection = withCa(parsed.connection, caFile);
  let templates: CompiledFields;
  try {
    // Templates are compiled from the connection as written, and `${VAR}` is expanded only in the
    // text around them: a value from the environment arrives as it is, never read as a template.
    const writtenConnection = withCa((written as { connection: Record<string, unknown> }).connection, caFile);
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
  const literalProblems = checkLiteralFields(file, connection, templates);
  if (literalProblems.length > 0) {
    problems.push(...literalProblems);
    return undefined;
  }
  return { ...parsed, connection, file, written, templates, ...(caFile ? { caFile } : {}) };
}

/** The connection with ssl.caFile replaced by the file's certificates in ssl.ca; as it is without a caFile. */
function withCa<T extends Record<string, unknown>>(connection: T, caFile: CaFile | undefined): T {
  if (caFile === undefined) return connection;
  const ssl: Record<string, unknown> = { ...(connection.ssl as Record<string, unknown>), ca: caFile.pem };
  delete ssl.caFile;
  return { ...connection, ssl };
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
