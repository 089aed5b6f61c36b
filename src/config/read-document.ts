import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { isCredflowError, messageOf } from '../errors.js';
import { expandEnv } from './expand-env.js';
import { formatZodIssues } from './format-issue.js';

export async function isDirectory(target: string): Promise<boolean> {
  return stat(target).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

export async function listJson(dir: string, sub: string, problems: string[]): Promise<string[]> {
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

/** A JSON document of the config folder; a problem (naming the file, and the line for bad JSON) otherwise. */
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

/** The document parsed by `schema`, or its issues as problems naming the file and field. */
function parseWith<T>(schema: z.ZodType<T>, file: string, document: unknown, problems: string[]): T | undefined {
  const result = schema.safeParse(document);
  if (result.success) return result.data;
  problems.push(...formatZodIssues(file, result.error));
  return undefined;
}

/** The document with `${VAR}` expanded, or a problem. */
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

/**
 * A config file as the loaders take it: read, `${VAR}` expanded (except where `skip` says), parsed by
 * `schema`, and named after its file. `written` is the document as written, for display. Undefined
 * after a problem, which is in `problems`.
 */
export async function readConfigFile<T extends { name: string }>(
  dir: string,
  file: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
  schema: z.ZodType<T>,
  skip?: (p: (string | number)[]) => boolean,
): Promise<{ written: unknown; parsed: T } | undefined> {
  const written = await readDocument(dir, file, problems);
  if (written === undefined) return undefined;
  const document = expanded(file, written, env, problems, skip);
  if (document === undefined) return undefined;
  const parsed = parseWith(schema, file, document, problems);
  if (!parsed) return undefined;
  const stem = path.basename(file, '.json');
  if (parsed.name !== stem) {
    problems.push(`${file}: name: "${parsed.name}" must match the file name "${stem}"`);
    return undefined;
  }
  return { written, parsed };
}
