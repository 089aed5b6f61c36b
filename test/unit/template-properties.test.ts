/**
 * Property-based tests of the `<<path>>` template renderer: compiling any text either works or is a
 * TEMPLATE_INVALID naming the field; rendering gives back exactly the value at the path (its JSON type
 * kept for a whole-field template), unescaped; a missing path is TEMPLATE_MISSING_VALUE naming the
 * path, never ""; nothing but a CredflowError is ever thrown.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Integration } from '../../src/config/index.js';
import { renderConnection } from '../../src/credentials/render-connection.js';
import { CredflowError } from '../../src/errors.js';
import { SecretMasker } from '../../src/masking/index.js';
import { compileFields, compileValue, type CompiledValue } from '../../src/templates/index.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const RUNS = 300;

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const oddUnits = [
  '\uD800',
  '\uDFFF',
  '\u200F',
  '\u202E',
  '\u0000',
  '😀',
  '\uFEFF',
  '\u2028',
  '\n',
  '\t',
  'é',
  'e\u0301',
  '中',
];
const htmlUnits = ['&', '<', '>', '"', "'", '&amp;', '&lt;', '<script>', '`', '='];
const templateUnits = [
  '<<',
  '>>',
  '{{',
  '}}',
  '{{{',
  '}}}',
  '\\',
  '\\{{',
  '[',
  ']',
  '.',
  '..',
  '/',
  '../',
  '@root',
  '@index',
  'this',
  '#if',
  '/if',
  '^',
  '!',
  '!--',
  '&',
  '~',
  '>',
  '(',
  ')',
  '|',
  'as |x|',
  'lookup',
  'log',
  'else',
  '=',
  '"',
  "'",
  'true',
  'null',
  '-1',
  '0',
  ' ',
];

const unit = (units: string[]) =>
  fc.oneof(
    fc.constantFrom(...units),
    fc.string({ minLength: 1, maxLength: 3 }),
    fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
  );

/** Any text, heavy in template syntax, HTML and odd Unicode. */
const anyText = fc
  .array(unit([...templateUnits, ...htmlUnits, ...oddUnits]), { maxLength: 16 })
  .map((parts) => parts.join(''));

/** Text with at least one `<<...>>` whose inside is template-ish noise. */
const templatedText = fc
  .tuple(
    anyText,
    fc.array(unit([...templateUnits, 'a', 'b', 'Env', 'x.y', 'getSecrets.response']), { maxLength: 10 }),
    anyText,
  )
  .map(([before, inside, after]) => `${before}<<${inside.join('')}>>${after}`);

/** A value as a workflow response may hold it: unescaped HTML, template syntax, odd Unicode. */
const nastyString = fc
  .array(unit([...htmlUnits, ...templateUnits, ...oddUnits]), { maxLength: 12 })
  .map((parts) => parts.join(''));

/**
 * Keys that bracket segments `[key]` can address: no line terminator (Handlebars strips the brackets
 * with /^\[.*\]$/, whose `.` stops at one) and no backslash (Handlebars' lexer has no escape for a
 * backslash before `]`); `]` is escaped as `\]`. `<<`/`>>` would end the template itself.
 */
const pathKey = fc
  .oneof(
    fc.constantFrom(
      'host',
      'password',
      '__proto__',
      'constructor',
      'toString',
      'length',
      '0',
      '..',
      '.',
      'this',
      '@root',
      'a.b',
      'a b',
      'true',
      'null',
      ']',
      '[x]',
      '}}',
      '{{',
      '<',
      '>',
      '&<>"\'',
      '😀',
      '\u0000',
      '\uD800',
      '\u202E',
    ),
    nastyString,
  )
  .filter((key) => key.length > 0 && !/[\n\r\u2028\u2029\\]/.test(key) && !key.includes('<<') && !key.includes('>>'));

const segmentOf = (key: string): string => `[${key.replace(/]/g, '\\]')}]`;
const templateFor = (keys: readonly string[]): string => keys.map(segmentOf).join('.');

/** JSON trees with addressable keys and nasty string leaves. */
const tree: fc.Arbitrary<Json> = fc.letrec<{ node: Json }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    nastyString,
    fc.constant(''),
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(pathKey, tie('node'), { maxKeys: 4 }),
  ),
})).node;

/** A context object as the resolver builds it (JSON, so `__proto__` keys are own keys). */
const context = fc
  .dictionary(pathKey, tree, { minKeys: 1, maxKeys: 4 })
  .map((c) => JSON.parse(JSON.stringify(c)) as Record<string, Json>);

/** Walks `choices` down a context: the path to some existing node (at least one segment). */
function pathIn(ctx: Record<string, Json>, choices: readonly number[]): { keys: string[]; value: Json } {
  const rootKeys = Object.keys(ctx);
  const first = rootKeys[(choices[0] ?? 0) % rootKeys.length] as string;
  const keys = [first];
  let value = ctx[first] as Json;
  for (const choice of choices.slice(1)) {
    if (value === null || typeof value !== 'object') break;
    const childKeys = Object.keys(value);
    if (childKeys.length === 0) break;
    const key = childKeys[choice % childKeys.length] as string;
    keys.push(key);
    value = (value as Record<string, Json>)[key] as Json;
  }
  return { keys, value };
}

const where = fc.record({
  integration: fc.oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,20}$/), nastyString),
  field: fc.oneof(
    fc.constantFrom('connection.host', 'connection.password', 'connection.ssl.ca', 'connection.hosts[0]'),
    fc.stringMatching(/^connection(\.[a-z]{1,6}|\[\d\]){1,3}$/),
  ),
});

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** The CredflowError `run` throws, or its result; any other throw fails the property. */
function outcome<T>(run: () => T): { ok: true; value: T } | { ok: false; error: CredflowError } {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    if (error instanceof CredflowError) return { ok: false, error };
    throw new Error(
      `expected a CredflowError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
      { cause: error },
    );
  }
}

const prefixOf = (w: { integration: string; field: string }) =>
  `integration ${JSON.stringify(w.integration)}: ${w.field}: <<`;

function expectTemplateError(
  error: CredflowError,
  w: { integration: string; field: string },
  codes: readonly string[],
): void {
  expect(codes).toContain(error.code);
  expect(
    error.message.startsWith(prefixOf(w)),
    `message names the integration and field: ${JSON.stringify(error.message)}`,
  ).toBe(true);
  expect(error.message).not.toContain('    at ');
  expect(error.details).toMatchObject({ integration: w.integration, field: w.field });
  expect(error.status).toBeGreaterThanOrEqual(400);
}

/** Literal text around a template: anything that makes no template of its own. */
const literal = nastyString.filter((s) => !s.includes('<<') && !s.includes('>>'));

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('template compilation properties', () => {
  it('compiles any text or throws TEMPLATE_INVALID naming the integration and field, never anything else', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, templatedText), where, (source, w) => {
        const result = outcome(() => compileValue(source, w));
        if (!result.ok) {
          expectTemplateError(result.error, w, ['TEMPLATE_INVALID']);
          expect(result.error.message).toMatch(
            / is not a valid template expression: \S|: << at character \d+ is never closed with >> /,
          );
        } else {
          expect(typeof result.value.hasTemplates).toBe('boolean');
          for (const p of result.value.paths) expect(typeof p).toBe('string');
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('names the exact nested field of a bad template in compileFields', () => {
    const fieldKey = fc.stringMatching(/^[a-z][a-zA-Z]{0,6}$/);
    const fields: fc.Arbitrary<Json> = fc.letrec<{ node: Json }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.oneof(anyText, templatedText),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(fieldKey, tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(
        fc.dictionary(fieldKey, fields, { maxKeys: 4 }),
        fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,10}$/),
        (connection, integration) => {
          // Every string leaf and the name compileFields gives its field.
          const leaves: { field: string; text: string }[] = [];
          const walk = (value: Json, field: string): void => {
            if (typeof value === 'string') leaves.push({ field, text: value });
            else if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${field}[${i}]`));
            else if (value !== null && typeof value === 'object')
              for (const [k, v] of Object.entries(value)) walk(v, `${field}.${k}`);
          };
          walk(connection, 'connection');
          const bad = leaves.filter(
            (leaf) => !outcome(() => compileValue(leaf.text, { integration, field: leaf.field })).ok,
          );
          const result = outcome(() => compileFields(connection, integration));
          if (bad.length === 0) {
            expect(result.ok).toBe(true);
            return;
          }
          expect(result.ok).toBe(false);
          if (result.ok) return;
          const first = bad[0] as { field: string };
          expectTemplateError(result.error, { integration, field: first.field }, ['TEMPLATE_INVALID']);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('leaves text without << exactly as written: {{, }}, a lone >>, backslashes', () => {
    // Runs of "<" collapse to one: replacing "<<" alone leaves "<<" of "<<<".
    const noTemplate = fc.oneof(
      anyText.map((s) => s.replace(/<+/g, '<')),
      anyText.map((s) => s.replace(/<+/g, '<').replace(/>+/g, '>')),
    );
    fc.assert(
      fc.property(noTemplate, where, (source, w) => {
        const compiled = compileValue(source, w);
        expect(compiled.hasTemplates).toBe(false);
        expect(compiled.paths).toEqual([]);
        expect(compiled.render({}, w)).toBe(source);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a << that is never closed, naming the position and never quoting the text', () => {
    // With no ">" at all, nothing can close the "<<".
    const unclosed = fc.tuple(anyText, anyText).map(([a, b]) => `${a.replace(/>/g, '')}<<${b.replace(/>/g, '')}`);
    fc.assert(
      fc.property(unclosed, where, (source, w) => {
        const result = outcome(() => compileValue(source, w));
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expectTemplateError(result.error, w, ['TEMPLATE_INVALID']);
        expect(result.error.message).toMatch(/: << at character \d+ is never closed with >> /);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('template rendering properties', () => {
  it('renders a whole-field <<path>> as the value at the path, deep-equal and with its JSON type', () => {
    fc.assert(
      fc.property(context, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), where, (ctx, choices, w) => {
        const { keys, value } = pathIn(ctx, choices);
        const source = `<<${templateFor(keys)}>>`;
        const compiled = compileValue(source, w);
        expect(compiled.pathParts).toEqual([keys]);
        const result = outcome(() => compiled.render(ctx, w));
        if (value === null) {
          // null counts as missing, and is said so rather than rendered as "" or "null".
          expect(result.ok).toBe(false);
          if (!result.ok) expectTemplateError(result.error, w, ['TEMPLATE_MISSING_VALUE']);
          return;
        }
        expect(result.ok, result.ok ? '' : result.error.message).toBe(true);
        if (!result.ok) return;
        // Compared as JSON text: toStrictEqual's type check reads a value's `constructor`, which a
        // generated object may hold as an ordinary key ({ constructor: [] }).
        expect(JSON.stringify(result.value)).toBe(JSON.stringify(value));
        expect(Array.isArray(result.value)).toBe(Array.isArray(value));
        expect(typeof result.value).toBe(typeof value);
        if (typeof value === 'object') expect(result.value).not.toBe(value);
      }),
      { numRuns: RUNS },
    );
  });

  it('renders text around templates byte for byte: prefix + String(value) + suffix, values unescaped', () => {
    const scalar = fc.oneof(
      nastyString,
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(''),
    );
    fc.assert(
      fc.property(
        fc.array(pathKey, { minLength: 1, maxLength: 4 }),
        scalar,
        literal,
        literal,
        fc.option(fc.tuple(pathKey, scalar, literal), { nil: undefined }),
        where,
        (keys, value, prefix, suffix, second, w) => {
          fc.pre(prefix.length + suffix.length > 0 || second !== undefined);
          let ctx: Json = value;
          for (const key of [...keys].reverse()) ctx = { [key]: ctx };
          const root = JSON.parse(JSON.stringify(ctx)) as Record<string, Json>;
          let source = `${prefix}<<${templateFor(keys)}>>${suffix}`;
          let expected = `${prefix}${String(value)}${suffix}`;
          if (second) {
            const [key, other, tail] = second;
            fc.pre(!Object.hasOwn(root, key));
            Object.defineProperty(root, key, { value: other, enumerable: true, writable: true, configurable: true });
            source += `<<${segmentOf(key)}>>${tail}`;
            expected += `${String(other)}${tail}`;
          }
          const compiled = compileValue(source, w);
          expect(compiled.hasTemplates).toBe(true);
          expect(compiled.render(root, w)).toBe(expected);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('delivers values holding {{, <<, >>, & < > " \' and odd Unicode unchanged, through paths and lookup', () => {
    fc.assert(
      fc.property(
        pathKey,
        pathKey.filter((k) => !k.includes('"')),
        nastyString,
        where,
        (outer, inner, value, w) => {
          const ctx = JSON.parse(JSON.stringify({ [outer]: { [inner]: value } })) as Record<string, Json>;
          const direct = compileValue(`<<${templateFor([outer, inner])}>>`, w);
          expect(direct.render(ctx, w)).toBe(value);
          const viaLookup = compileValue(`<<lookup ${segmentOf(outer)} "${inner}">>`, w);
          expect(viaLookup.pathParts).toEqual([[outer]]);
          expect(viaLookup.render(ctx, w)).toBe(value);
          const embedded = compileValue(`x<<lookup ${segmentOf(outer)} "${inner}">>y`, w);
          expect(embedded.render(ctx, w)).toBe(`x${value}y`);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('fails on a missing or null path with TEMPLATE_MISSING_VALUE naming the path, never rendering ""', () => {
    fc.assert(
      fc.property(
        context,
        fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
        fc.oneof(pathKey, fc.constant('__proto__'), fc.constant('constructor'), fc.constant('toString')),
        fc.constantFrom('missing-key', 'null-value', 'through-scalar'),
        literal,
        where,
        (ctx, choices, extra, how, around, w) => {
          const found = pathIn(ctx, choices);
          const keys = [...found.keys];
          const root = JSON.parse(JSON.stringify(ctx)) as Record<string, Json>;
          if (how === 'missing-key') {
            // A key the node at the path does not own (inherited names included).
            const node = found.value;
            fc.pre(node === null || typeof node !== 'object' || !Object.hasOwn(node, extra));
            keys.push(extra);
          } else if (how === 'null-value') {
            let parent: Record<string, Json> = root;
            for (const key of keys.slice(0, -1)) parent = parent[key] as Record<string, Json>;
            parent[keys[keys.length - 1] as string] = null;
          } else {
            fc.pre(found.value !== null && typeof found.value !== 'object');
            keys.push(extra);
          }
          const text = templateFor(keys);
          for (const source of [`<<${text}>>`, `${around}<<${text}>>${around}`]) {
            const compiled = compileValue(source, w);
            const result = outcome(() => compiled.render(root, w));
            expect(result.ok, `rendered ${JSON.stringify(result.ok ? result.value : '')} for a missing path`).toBe(
              false,
            );
            if (result.ok) continue;
            expectTemplateError(result.error, w, ['TEMPLATE_MISSING_VALUE']);
            expect(result.error.message).toContain(`<<${text}>> has no value (`);
            expect(result.error.details).toMatchObject({ template: `<<${text}>>` });
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('refuses to embed an object or array in text with TEMPLATE_INVALID naming the path', () => {
    fc.assert(
      fc.property(
        fc.array(pathKey, { minLength: 1, maxLength: 3 }),
        fc.oneof(fc.array(tree, { maxLength: 3 }), fc.dictionary(pathKey, tree, { maxKeys: 3 })),
        literal.filter((s) => s.length > 0),
        where,
        (keys, value, around, w) => {
          let ctx: Json = value;
          for (const key of [...keys].reverse()) ctx = { [key]: ctx };
          const text = templateFor(keys);
          const result = outcome(() =>
            compileValue(`${around}<<${text}>>`, w).render(JSON.parse(JSON.stringify(ctx)) as Record<string, Json>, w),
          );
          expect(result.ok).toBe(false);
          if (result.ok) return;
          expectTemplateError(result.error, w, ['TEMPLATE_INVALID']);
          expect(result.error.message).toMatch(/ is an? (object|array) and cannot be embedded in text/);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('renders any compiled template against any context or throws a TEMPLATE_* CredflowError, never another error', () => {
    const smallKey = fc.constantFrom(
      'a',
      'b',
      'Env',
      'x',
      'y',
      'response',
      'getSecrets',
      '__proto__',
      'constructor',
      'length',
      '0',
    );
    const smallTree: fc.Arbitrary<Json> = fc.letrec<{ node: Json }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.integer(),
        nastyString,
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(smallKey, tie('node'), { maxKeys: 4 }),
      ),
    })).node;
    const source = fc
      .tuple(
        anyText,
        fc.array(
          fc.oneof(
            smallKey,
            fc.constantFrom(
              '.',
              ' ',
              '[',
              ']',
              'lookup ',
              '"a"',
              '"x"',
              '(lookup a "b")',
              '@root.',
              'this.',
              '~',
              '0',
              'true',
              'null',
            ),
          ),
          { minLength: 1, maxLength: 8 },
        ),
        anyText,
      )
      .map(([a, inside, b]) => `${a}<<${inside.join('')}>>${b}`);
    fc.assert(
      fc.property(source, fc.dictionary(smallKey, smallTree, { maxKeys: 4 }), where, (text, raw, w) => {
        const ctx = JSON.parse(JSON.stringify(raw)) as Record<string, Json>;
        const compiled = outcome(() => compileValue(text, w));
        if (!compiled.ok) {
          expectTemplateError(compiled.error, w, ['TEMPLATE_INVALID']);
          return;
        }
        const rendered = outcome(() => (compiled.value as CompiledValue).render(ctx, w));
        if (!rendered.ok) {
          expectTemplateError(rendered.error, w, ['TEMPLATE_MISSING_VALUE', 'TEMPLATE_INVALID']);
          return;
        }
        // A missing value never silently becomes undefined, null or "[object Object]".
        if (typeof rendered.value === 'string' && !text.includes('[object Object]'))
          expect(rendered.value).not.toContain('[object Object]');
        expect(rendered.value).not.toBeUndefined();
        expect(rendered.value).not.toBeNull();
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('renders deeply nested response values or fails with a CredflowError, never a RangeError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6_000 }), fc.boolean(), where, (depth, wrapped, w) => {
        // Built without recursion, as JSON.parse would: [[[...["leaf"]...]]].
        let deep: Json = 'leaf';
        for (let i = 0; i < depth; i += 1) deep = [deep];
        const ctx = { wf: { response: wrapped ? { value: deep } : deep } };
        const result = outcome(() =>
          compileValue(wrapped ? '<<wf.response.value>>' : '<<wf.response>>', w).render(ctx, w),
        );
        if (!result.ok) {
          expect(['TEMPLATE_INVALID', 'TEMPLATE_MISSING_VALUE']).toContain(result.error.code);
          return;
        }
        let levels = 0;
        let node = result.value as Json;
        while (Array.isArray(node)) {
          levels += 1;
          node = node[0] as Json;
        }
        expect(levels).toBe(depth);
        expect(node).toBe('leaf');
      }),
      { numRuns: 60 },
    );
  });
});

describe('renderConnection properties', () => {
  const integrationWith = (connection: Record<string, unknown>): Integration =>
    ({
      name: 'prop-db',
      kind: 'postgres',
      file: 'integrations/prop-db.json',
      written: { connection },
      connection,
      fetchCredentialsDynamically: { enabled: true, workflow: 'wf' },
      templates: compileFields(connection, 'prop-db'),
    }) as unknown as Integration;

  const anyJson: fc.Arbitrary<Json> = fc.oneof(
    nastyString,
    fc.constantFrom(
      'db.internal',
      '5432',
      '0',
      '65536',
      'true',
      'false',
      '',
      'postgres://u:p@h/db',
      'postgresql://h',
      'pw-\uD800',
      '\uDFFF',
      'postgres://u:\uD800@h/db',
    ),
    fc.integer({ min: -10, max: 70_000 }),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant<Json>([]),
    fc.constant<Json>({}),
    fc.dictionary(fc.constantFrom('enabled', 'ca', 'rejectUnauthorized', 'x'), fc.oneof(fc.boolean(), nastyString), {
      maxKeys: 3,
    }),
  );

  it('returns a valid connection (password byte for byte, and masked) or a CredflowError naming the integration and field', () => {
    const fieldsShape = fc.constantFrom(
      {
        host: '<<wf.response.host>>',
        port: '<<wf.response.port>>',
        database: '<<wf.response.db>>',
        user: '<<wf.response.user>>',
        password: '<<wf.response.password>>',
      },
      {
        host: 'h-<<wf.response.host>>',
        port: '<<wf.response.port>>',
        database: 'd',
        user: 'u',
        password: 'pw:<<wf.response.password>>',
        ssl: '<<wf.response.ssl>>',
      },
      {
        connectionString:
          'postgres://<<wf.response.user>>:<<wf.response.password>>@<<wf.response.host>>/<<wf.response.db>>',
      },
      { connectionString: '<<wf.response.uri>>', ssl: { enabled: '<<wf.response.ssl>>', ca: '<<wf.response.ca>>' } },
    );
    // Mostly usable values, so that rendering gets past validation to the masker; any JSON otherwise.
    const usable = (...values: Json[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...values) }, anyJson);
    const response = fc.record(
      {
        host: usable('db.internal', '10.0.0.1'),
        port: usable(5432, '5432'),
        db: usable('orders'),
        user: usable('app'),
        password: fc.oneof({ weight: 3, arbitrary: nastyString }, anyJson),
        ssl: usable(true, false, 'true'),
        ca: usable('-----BEGIN CERTIFICATE-----'),
        uri: fc.oneof({ weight: 3, arbitrary: nastyString.map((p) => `postgres://app:${p}@db/orders`) }, anyJson),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fieldsShape, response, (connection, raw) => {
        const masker = new SecretMasker();
        const integration = integrationWith(connection);
        const ctx = JSON.parse(JSON.stringify({ wf: { response: raw }, credentials: { response: raw } })) as Record<
          string,
          Json
        >;
        const result = outcome(() => renderConnection(integration, ctx, masker));
        if (!result.ok) {
          expect(['TEMPLATE_MISSING_VALUE', 'TEMPLATE_INVALID', 'CONNECTION_INVALID']).toContain(result.error.code);
          expect(result.error.message).toMatch(/^integration "prop-db": connection\.\S/);
          expect(result.error.message).not.toContain('    at ');
          // Messages never quote a password value.
          const password = (raw as Record<string, Json>).password;
          if (typeof password === 'string' && password.length >= 6)
            expect(result.error.message).not.toContain(password);
          return;
        }
        const resolved = result.value as Record<string, unknown>;
        if ('password' in connection && typeof raw.password === 'string') {
          const expected = connection.password === '<<wf.response.password>>' ? raw.password : `pw:${raw.password}`;
          expect(resolved.password).toBe(expected);
          if (expected !== '') expect(masker.knows(expected)).toBe(true);
        }
        if ('connectionString' in resolved) expect(masker.knows(resolved.connectionString as string)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
