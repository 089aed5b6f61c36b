import { compileValue } from './compile-value.js';

/** Every template in an integration's connection fields, compiled once when the config loads. */
export interface CompiledFields {
  render(context: Record<string, unknown>): Record<string, unknown>;
  /** every context path the fields read, without duplicates */
  readonly paths: string[];
  /** the same paths as segments (a key may hold a dot) */
  readonly pathParts: string[][];
  /** the top-level fields (`password`, `ssl`) that hold at least one template */
  readonly fields: string[];
}

type Renderer = (context: Record<string, unknown>) => unknown;

/**
 * Compiles every string in a (nested) object of connection fields; non-strings pass through unchanged.
 * Errors name fields as `connection.password`, `connection.ssl.ca`, `connection.hosts[0]`.
 */
export function compileFields(
  fields: Record<string, unknown>,
  integration: string,
  prefix = 'connection',
  literal?: (text: string, field: string) => string,
): CompiledFields {
  const pathParts: string[][] = [];
  const templated = new Set<string>();
  const render = compileNode(fields, prefix, integration, pathParts, literal, (field) => {
    templated.add(field.slice(prefix.length + 1).split(/[.[]/, 1)[0] ?? '');
  });
  return {
    paths: [...new Set(pathParts.map((parts) => parts.join('.')))],
    pathParts,
    fields: [...templated],
    render: (context) => render(context) as Record<string, unknown>,
  };
}

function compileNode(
  value: unknown,
  field: string,
  integration: string,
  paths: string[][],
  literal: ((text: string, field: string) => string) | undefined,
  templated: (field: string) => void,
): Renderer {
  if (typeof value === 'string') {
    const where = { integration, field };
    const compiled = compileValue(value, where, literal ? (text) => literal(text, field) : undefined);
    paths.push(...compiled.pathParts);
    if (compiled.hasTemplates) templated(field);
    const plain = compiled.hasTemplates ? undefined : compiled.render({}, where);
    return compiled.hasTemplates ? (context) => compiled.render(context, where) : () => plain;
  }
  if (Array.isArray(value)) {
    const items = value.map((item, index) =>
      compileNode(item, `${field}[${index}]`, integration, paths, literal, templated),
    );
    return (context) => items.map((item) => item(context));
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value).map(
      ([key, item]) => [key, compileNode(item, `${field}.${key}`, integration, paths, literal, templated)] as const,
    );
    // fromEntries defines own properties, so a "__proto__" field stays a field.
    return (context) => Object.fromEntries(entries.map(([key, item]) => [key, item(context)]));
  }
  return () => value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
