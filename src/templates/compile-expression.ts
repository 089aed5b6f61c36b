import Handlebars from 'handlebars';
import { messageOf } from '../errors.js';
import { resolvePath } from './resolve-path.js';
import type { Resolution } from './resolve-path.js';
import { templateError } from './template-error.js';
import type { TemplateLocation } from './template-error.js';

/** One `<<expr>>`, parsed once; `evaluate` returns the raw value so callers decide on types. */
export interface CompiledExpression {
  /** the expression as written, trimmed, for messages */
  readonly text: string;
  /** context paths it reads, e.g. "getSecrets.response.host" */
  readonly paths: string[];
  /** the same paths as segments (a key may hold a dot: `[db.host]`) */
  readonly pathParts: string[][];
  evaluate(context: Record<string, unknown>): Resolution;
}

type Invalid = (reason: string, cause?: unknown) => Error;

const CAPTURE = '__credflowCapture';
/** Only helpers that compute a value make sense inline; block helpers do not, and `log` would print secrets. */
const INLINE_HELPERS = new Set(['lookup']);
const OPTIONS = { noEscape: true, strict: true } as const;

// An isolated environment: nothing registered on the global Handlebars reaches credential rendering.
const engine = Handlebars.create();
engine.unregisterHelper('log');
// Helper calls are wrapped in `{{__credflowCapture (helper ...)}}` so the helper's raw result comes back
// through the render's data frame: a whole-field `<<lookup ...>>` keeps its type and a missing result is
// detectable instead of silently rendering as "".
engine.registerHelper(CAPTURE, (value: unknown, options: Handlebars.HelperOptions) => {
  (options.data as Record<string, { value: unknown }>)[CAPTURE]!.value = value;
  return '';
});

/** Parses one expression (the text between `<<` and `>>`); throws TEMPLATE_INVALID for anything else. */
export function compileExpression(expression: string, where: TemplateLocation): CompiledExpression {
  const text = expression.trim();
  const invalid: Invalid = (reason, cause) =>
    templateError('TEMPLATE_INVALID', where, text, `is not a valid template expression: ${reason}`, cause);

  let program: hbs.AST.Program;
  try {
    program = engine.parse(`{{${expression}}}`);
  } catch (error) {
    // Handlebars' parse error is a multi-line picture; its last line says what was expected.
    throw invalid(messageOf(error).split('\n').at(-1) ?? 'syntax error', error);
  }
  const [statement, ...rest] = program.body;
  if (statement?.type !== 'MustacheStatement' || rest.length > 0) {
    throw invalid('expected a single path or helper call');
  }
  const mustache = statement as hbs.AST.MustacheStatement;
  if (mustache.path.type !== 'PathExpression') throw invalid('expected a path or a helper call, not a literal');
  const path = mustache.path as hbs.AST.PathExpression;

  if (mustache.params.length === 0 && !mustache.hash) {
    const parts = contextParts(path, invalid);
    if (parts.length === 0) throw invalid('expected a path such as getSecrets.response.host');
    return { text, paths: [parts.join('.')], pathParts: [parts], evaluate: (context) => resolvePath(context, parts) };
  }

  const pathParts: string[][] = [];
  checkHelperCall(path, mustache.params, mustache.hash, pathParts, invalid);
  const template = engine.compile(captureProgram(mustache), OPTIONS);
  return {
    text,
    paths: pathParts.map((parts) => parts.join('.')),
    pathParts,
    evaluate(context) {
      const box: { value: unknown } = { value: undefined };
      try {
        template(context, { data: { [CAPTURE]: box } });
      } catch {
        // Handlebars' own messages may quote the value it failed on (a secret), so they are dropped.
        return { found: false, reason: 'a path it reads does not exist' };
      }
      if (box.value === null || box.value === undefined) {
        return { found: false, reason: `${path.original} returned ${box.value === null ? 'null' : 'nothing'}` };
      }
      return { found: true, value: box.value };
    },
  };
}

/** The parts of a path into the render context; `@root.x` is `x`, `../x` has no meaning here. */
function contextParts(path: hbs.AST.PathExpression, invalid: Invalid): string[] {
  if (path.depth > 0) throw invalid(`"${path.original}" refers to a parent scope, which templates do not have`);
  if (!path.data) return path.parts;
  if (path.parts[0] === 'root') return path.parts.slice(1);
  throw invalid(`"@${path.original}" is not available in templates`);
}

function checkHelperCall(
  path: hbs.AST.PathExpression,
  params: hbs.AST.Expression[],
  hash: hbs.AST.Hash | undefined,
  paths: string[][],
  invalid: Invalid,
): void {
  const name = path.parts[0];
  if (path.data || path.depth > 0 || path.parts.length !== 1 || path.original !== name || !INLINE_HELPERS.has(name)) {
    throw invalid(`unknown helper "${path.original}" (available: ${[...INLINE_HELPERS].join(', ')})`);
  }
  for (const param of [...params, ...(hash?.pairs.map((pair) => pair.value) ?? [])]) {
    checkParam(param, paths, invalid);
  }
}

function checkParam(node: hbs.AST.Expression, paths: string[][], invalid: Invalid): void {
  switch (node.type) {
    case 'PathExpression': {
      const parts = contextParts(node as hbs.AST.PathExpression, invalid);
      if (parts.length > 0) paths.push(parts);
      return;
    }
    case 'SubExpression': {
      const sub = node as hbs.AST.SubExpression;
      checkHelperCall(sub.path, sub.params, sub.hash, paths, invalid);
      return;
    }
    case 'StringLiteral':
    case 'NumberLiteral':
    case 'BooleanLiteral':
    case 'NullLiteral':
    case 'UndefinedLiteral':
      return;
    default:
      throw invalid(`unexpected ${node.type}`);
  }
}

/** `{{__credflowCapture (helper params...)}}` built from parser output, so every node is well formed. */
function captureProgram(mustache: hbs.AST.MustacheStatement): hbs.AST.Program {
  const program = engine.parse(`{{${CAPTURE} (${CAPTURE})}}`);
  const wrapper = program.body[0] as hbs.AST.MustacheStatement;
  const call = wrapper.params[0] as hbs.AST.SubExpression;
  call.path = mustache.path as hbs.AST.PathExpression;
  call.params = mustache.params;
  call.hash = mustache.hash;
  return program;
}
