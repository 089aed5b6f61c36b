import { CredflowError } from '../errors.js';
import { compileExpression } from './compile-expression.js';
import type { CompiledExpression } from './compile-expression.js';
import { kindOf } from './resolve-path.js';
import { templateError } from './template-error.js';
import type { TemplateLocation } from './template-error.js';

/** A field value with its `<<...>>` templates parsed once, ready to render per resolution. */
export interface CompiledValue {
  readonly hasTemplates: boolean;
  /** context paths the templates read, e.g. "getSecrets.response.host", without duplicates */
  readonly paths: string[];
  /** the same paths as segments (a key may hold a dot) */
  readonly pathParts: string[][];
  render(context: Record<string, unknown>, where: TemplateLocation): unknown;
}

/**
 * `<<` not followed by another `<` (so `<<<x>>` is a literal `<` then `<<x>>`), then anything without
 * `<<` or `>>`, then `>>`. A `<<` left in the text between matches is unclosed: an error, since
 * sent as it is it would be a wrong password that the database, not the config, would blame.
 */
const TEMPLATE = /<<(?!<)((?:(?!<<|>>)[\s\S])*)>>/g;

/**
 * Compiles one connection field value. Literal text is never given to Handlebars, so `{{`, `}}` and a
 * lone `<<` stay as written; rendered values are inserted as they are and never parsed again.
 * A field that is exactly one `<<expr>>` renders to the value itself (its JSON type kept); templates
 * inside other text render as strings. Throws TEMPLATE_INVALID for a syntax error. `literal`
 * transforms the text outside templates once (the loader expands `${VAR}` there, so a value from
 * the environment is never read as a template).
 */
export function compileValue(
  source: string,
  where: TemplateLocation,
  literal: (text: string) => string = (text) => text,
): CompiledValue {
  const segments: (string | CompiledExpression)[] = [];
  let copied = 0;
  const literalText = (from: number, to: number): string => {
    const piece = source.slice(from, to);
    const open = piece.indexOf('<<');
    if (open !== -1) throw unclosed(where, from + open);
    return literal(piece);
  };
  for (const match of source.matchAll(TEMPLATE)) {
    if (match.index > copied) segments.push(literalText(copied, match.index));
    segments.push(compileExpression(match[1] ?? '', where));
    copied = match.index + match[0].length;
  }
  if (copied < source.length) segments.push(literalText(copied, source.length));

  const expressions = segments.filter((segment) => typeof segment !== 'string');
  const paths = [...new Set(expressions.flatMap((expression) => expression.paths))];
  const pathParts = expressions.flatMap((expression) => expression.pathParts);
  const [only] = expressions;
  if (only === undefined) {
    const text = segments.join('');
    return { hasTemplates: false, paths, pathParts, render: () => text };
  }
  if (segments.length === 1) {
    return {
      hasTemplates: true,
      paths,
      pathParts,
      render: (context, at) => {
        const value = valueOf(only, context, at);
        try {
          return structuredClone(value);
        } catch (error) {
          // A value nested thousands of levels deep overflows the copy's stack.
          throw templateError(
            'TEMPLATE_INVALID',
            at ?? where,
            only.text,
            'has a value that cannot be copied (nested too deeply?)',
            error,
          );
        }
      },
    };
  }
  return {
    hasTemplates: true,
    paths,
    pathParts,
    render: (context, at) =>
      segments.map((segment) => (typeof segment === 'string' ? segment : textOf(segment, context, at))).join(''),
  };
}

/** The text may be a password: the message gives the position only, never the text. */
function unclosed(where: TemplateLocation, index: number): CredflowError {
  return new CredflowError(
    'TEMPLATE_INVALID',
    `integration ${JSON.stringify(where.integration)}: ${where.field}: << at character ${index + 1} is never closed with >> (a value that must hold "<<" can be given as \${VAR})`,
    { details: { integration: where.integration, field: where.field } },
  );
}

function valueOf(expression: CompiledExpression, context: Record<string, unknown>, where: TemplateLocation): unknown {
  const resolution = expression.evaluate(context);
  if (!resolution.found) {
    throw templateError('TEMPLATE_MISSING_VALUE', where, expression.text, `has no value (${resolution.reason})`);
  }
  return resolution.value;
}

function textOf(expression: CompiledExpression, context: Record<string, unknown>, where: TemplateLocation): string {
  const value = valueOf(expression, context, where);
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      throw templateError(
        'TEMPLATE_INVALID',
        where,
        expression.text,
        `is ${kindOf(value)} and cannot be embedded in text; make it the whole field or pick a value inside it`,
      );
  }
}
