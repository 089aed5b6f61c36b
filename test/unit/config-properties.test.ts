/**
 * Property-based tests of the config loader: whatever is in workflows/ and integrations/, loadConfig
 * resolves (never throws, never hangs), and every problem is one line `file: json.path: message` that
 * names the file, with no stack; a file with a problem is never loaded, and valid files always are.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig, type LoadedConfig } from '../../src/config/index.js';
import { oneLine } from '../../src/config/format-issue.js';
import { writeConfigDir, type ConfigFiles } from '../support/config-dir.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonPath = (string | number)[];

/** The environment every load sees: SET_VAR is set, NOPE never is. */
const env: NodeJS.ProcessEnv = { SET_VAR: 'from-env<<Env.x>>{{y}}', EMPTY: '' };

const RUNS = 60;
const LOAD_TIMEOUT_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/** Characters that tend to break parsers, file systems, terminals and log lines. */
const oddUnits = [
  '\uD800', // lone high surrogate
  '\uDFFF', // lone low surrogate
  '\u200F', // right-to-left mark
  '\u202E', // right-to-left override
  '\u0000',
  '\u0007',
  '\u001B[31m',
  '😀',
  '🏳️‍🌈',
  '\uFEFF',
  '\u2028',
  '\u0085',
  '\u00A0',
  'e\u0301',
  '\u{10FFFF}',
  '\t',
  '\\',
  '"',
  "'",
  '&<>',
  '{{',
  '}}',
  'Ω',
  '中文',
];

const oddChar = fc.oneof(fc.constantFrom(...oddUnits), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }));
const oddString = fc
  .array(fc.oneof(oddChar, fc.string({ maxLength: 4 })), { maxLength: 10 })
  .map((parts) => parts.join(''));

/** Text without `<`, `>` or `$`: never a template or a `${VAR}` by accident. */
const plainText = oddString.map((s) => s.replace(/[<>$]/g, '_'));

/** A long string (10k to 300k UTF-16 units) of a repeated random chunk. */
const hugeString = fc
  .tuple(
    fc.oneof(oddString, fc.constantFrom('x', 'ab', '😀', '\uD800', 'postgres://u:p@h/')).filter((s) => s.length > 0),
    fc.integer({ min: 10_000, max: 300_000 }),
  )
  .map(([chunk, length]) => chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length));

const configName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,20}$/);
/** Segments that the Handlebars lexer reads as plain identifiers (no true/null/else/...). */
const segment = fc.stringMatching(/^k[a-z0-9_]{0,8}$/);
const stepName = fc.stringMatching(/^[a-z][A-Za-z0-9_]{0,10}$/).map((s) => `s_${s}`);

/** JSON values whose strings hold no `$` (so no `${VAR}` expansion) and no template brackets. */
const safeJson: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    plainText,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(plainText, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A `<<...>>` template reading from one of `roots`, in the forms users write. */
function template(roots: readonly string[]): fc.Arbitrary<string> {
  const root = fc.constantFrom(...roots);
  return fc.oneof(
    fc.tuple(root, fc.array(segment, { minLength: 1, maxLength: 3 })).map(([r, segs]) => `<<${r}.${segs.join('.')}>>`),
    fc.tuple(root, segment).map(([r, s]) => `<< ${r}.response.${s} >>`),
    fc
      .tuple(
        root,
        plainText.filter((s) => !/[\]\\\n\r\u2028\u2029]/.test(s)),
      )
      .map(([r, key]) => `<<${r}.[${key}]>>`),
    fc
      .tuple(
        root,
        plainText.filter((s) => !/["\\]/.test(s)),
      )
      .map(([r, key]) => `<<lookup ${r}.response "${key}">>`),
  );
}

/** A templatable field value: literal text, templates, `${SET_VAR}` and `$${LITERAL}`. */
function templatable(roots: readonly string[]): fc.Arbitrary<string> {
  return fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: plainText },
        template(roots),
        fc.constantFrom('${SET_VAR}', '${EMPTY}', '$${NOPE}', '{{x}}', 'a >> b'),
      ),
      {
        maxLength: 4,
      },
    )
    .map((parts) => parts.join(''));
}

interface WorkflowSpec {
  name: string;
  doc: Json;
}

const validWorkflow: fc.Arbitrary<WorkflowSpec> = fc
  .record(
    {
      name: configName,
      description: plainText,
      params: fc.dictionary(oddString, safeJson, { maxKeys: 4 }),
      limits: fc.record(
        {
          memoryMb: fc.integer({ min: 8, max: 4096 }),
          stepTimeoutMs: fc.integer({ min: 1, max: 600_000 }),
          runTimeoutMs: fc.integer({ min: 1, max: 600_000 }),
          maxResponseBytes: fc.integer({ min: 2, max: 16 * 1024 * 1024 }),
          maxBridgeCalls: fc.integer({ min: 0, max: 10_000 }),
          maxLogBytes: fc.integer({ min: 16, max: 1024 * 1024 }),
          maxLogLines: fc.integer({ min: 1, max: 100_000 }),
          maxRunLogBytes: fc.integer({ min: 1024, max: 64 * 1024 * 1024 }),
          maxRunLogLines: fc.integer({ min: 1, max: 1_000_000 }),
        },
        { requiredKeys: [] },
      ),
      allowedSecrets: fc.array(fc.stringMatching(/^[A-Za-z0-9/_+=.@:*-]{1,20}$/), { maxLength: 3 }),
      // Step code must compile: any text, as the string the step returns.
      steps: fc.uniqueArray(
        fc.record({ name: stepName, code: fc.string({ maxLength: 40 }).map((s) => `return ${JSON.stringify(s)};`) }),
        {
          minLength: 1,
          maxLength: 3,
          selector: (step) => step.name,
        },
      ),
    },
    { requiredKeys: ['name', 'steps'] },
  )
  .map((doc) => ({ name: doc.name, doc: doc as unknown as Json }));

const profileName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,10}$/);

/** Template roots are placeholders until the integration knows whether it uses a workflow. */
const WORKFLOW_ROOT = 'ROOT\u0001W';
const CREDENTIALS_ROOT = 'ROOT\u0001C';

interface IntegrationSpec {
  name: string;
  /** Picks the workflow (modulo their number); undefined: no fetchCredentialsDynamically. */
  workflow: number | undefined;
  rest: Record<string, unknown>;
}

const integrationShape: fc.Arbitrary<IntegrationSpec> = (() => {
  const roots = [WORKFLOW_ROOT, CREDENTIALS_ROOT, 'Env'];
  const text = templatable(roots);
  // Literal fields must pass the connect-time schema; a field holding a template is judged when rendered.
  const withTemplate = fc.tuple(text, template(roots), text).map((parts) => parts.join(''));
  const nonEmpty = fc.oneof(
    withTemplate,
    text.map((t) => `h${t}`),
  );
  const flag = fc.oneof(fc.boolean(), template(roots), fc.constantFrom('true', 'false'));
  const fields = fc.record(
    {
      host: nonEmpty,
      port: fc.oneof(fc.integer({ min: 1, max: 65_535 }), template(roots)),
      database: nonEmpty,
      user: nonEmpty,
      password: text,
      ssl: fc.oneof(
        fc.boolean(),
        flag,
        fc.record({ enabled: flag, ca: nonEmpty, rejectUnauthorized: flag }, { requiredKeys: [] }),
      ),
    },
    { requiredKeys: ['host', 'database', 'user'] },
  );
  const uri = fc.record(
    {
      connectionString: fc.oneof(
        withTemplate,
        text.map((t) => `postgres://${t}`),
      ),
      ssl: fc.boolean(),
    },
    { requiredKeys: ['connectionString'] },
  );
  const dynamic = fc.record(
    {
      params: fc.dictionary(oddString, safeJson, { maxKeys: 3 }),
      profiles: fc.dictionary(
        profileName,
        fc.record({ params: fc.dictionary(oddString, safeJson, { maxKeys: 2 }) }, { requiredKeys: [] }),
        { maxKeys: 3 },
      ),
      cacheTtlSeconds: fc.integer({ min: 0, max: 7 * 24 * 3600 }),
      maxStaleSeconds: fc.integer({ min: 0, max: 7 * 24 * 3600 }),
      rotationWaitMs: fc.integer({ min: 0, max: 600_000 }),
    },
    { requiredKeys: [] },
  );
  return fc.record({
    name: configName,
    workflow: fc.option(fc.nat(), { nil: undefined }),
    rest: fc.record(
      {
        description: plainText,
        connection: fc.oneof(fields, uri),
        fetchCredentialsDynamically: fc.oneof(
          dynamic,
          fc.record({ enabled: fc.constant(false), workflow: configName }),
        ),
        readOnly: fc.boolean(),
        statementTimeoutMs: fc.integer({ min: 0, max: 24 * 3600 * 1000 }),
        maxRows: fc.integer({ min: 1, max: 10_000_000 }),
        maxResultBytes: fc.integer({ min: 1, max: 1024 * 1024 * 1024 }),
      },
      { requiredKeys: ['connection'] },
    ),
  });
})();

/** Replaces the template placeholders in every string: the workflow's name, or Env when there is none. */
function rooted(value: unknown, workflow: string | undefined): unknown {
  if (typeof value === 'string') {
    return value
      .replaceAll(WORKFLOW_ROOT, workflow ?? 'Env')
      .replaceAll(CREDENTIALS_ROOT, workflow ? 'credentials' : 'Env');
  }
  if (Array.isArray(value)) return value.map((item) => rooted(item, workflow));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, rooted(item, workflow)]));
  }
  return value;
}

function buildIntegration(spec: IntegrationSpec, workflows: readonly string[]): { name: string; doc: Json } {
  const workflow =
    spec.workflow === undefined || workflows.length === 0 ? undefined : workflows[spec.workflow % workflows.length];
  const { fetchCredentialsDynamically, ...rest } = rooted(spec.rest, workflow) as Record<string, unknown>;
  const doc: Record<string, unknown> = { name: spec.name, kind: 'postgres', ...rest };
  if (workflow)
    doc.fetchCredentialsDynamically = { ...(fetchCredentialsDynamically as object), enabled: true, workflow };
  else if ((fetchCredentialsDynamically as { enabled?: boolean } | undefined)?.enabled === false)
    doc.fetchCredentialsDynamically = fetchCredentialsDynamically;
  return { name: spec.name, doc: doc as Json };
}

interface ConfigSpec {
  workflows: { name: string; doc: Json }[];
  integrations: { name: string; doc: Json }[];
}

/** 0-3 valid workflows and 0-3 valid integrations using them, with unique names. */
const validConfig: fc.Arbitrary<ConfigSpec> = fc
  .record({
    workflows: fc.uniqueArray(validWorkflow, { maxLength: 3, selector: (w) => w.name }),
    integrations: fc.uniqueArray(integrationShape, { maxLength: 3, selector: (i) => i.name }),
  })
  .map(({ workflows, integrations }) => ({
    workflows,
    integrations: integrations.map((spec) =>
      buildIntegration(
        spec,
        workflows.map((w) => w.name),
      ),
    ),
  }));

// ---------------------------------------------------------------------------------------------
// JSON mutation helpers
// ---------------------------------------------------------------------------------------------

function clone<T extends Json>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function allPaths(value: Json, at: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((item, i) => allPaths(item, [...at, i], out));
  else if (value !== null && typeof value === 'object')
    for (const [key, item] of Object.entries(value)) allPaths(item, [...at, key], out);
  return out;
}

function getAt(doc: Json, at: JsonPath): Json {
  let current: Json = doc;
  for (const key of at) current = (current as Record<string | number, Json>)[key] as Json;
  return current;
}

/** Sets (or adds) an own property: a `__proto__` key stays a key, as in JSON.parse output. */
function setAt(doc: Json, at: JsonPath, value: Json): Json {
  if (at.length === 0) return value;
  const copy = clone(doc);
  const parent = getAt(copy, at.slice(0, -1));
  if (parent === null || typeof parent !== 'object') return copy;
  Object.defineProperty(parent, at[at.length - 1] as string | number, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return copy;
}

function deleteAt(doc: Json, at: JsonPath): Json {
  if (at.length === 0) return {};
  const copy = clone(doc);
  const parent = getAt(copy, at.slice(0, -1));
  const key = at[at.length - 1] as string | number;
  if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
  else if (parent !== null && typeof parent === 'object') delete (parent as Record<string, Json>)[key];
  return copy;
}

const objectPaths = (doc: Json): JsonPath[] =>
  allPaths(doc).filter((at) => {
    const v = getAt(doc, at);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  });
const stringPaths = (doc: Json): JsonPath[] => allPaths(doc).filter((at) => typeof getAt(doc, at) === 'string');
const pick = <T>(items: readonly T[], n: number): T | undefined =>
  items.length === 0 ? undefined : items[n % items.length];

/** A value of the wrong type for (almost) any field. */
const wrongValue: fc.Arbitrary<Json> = fc.oneof(
  fc.integer(),
  fc.constantFrom(0, -1, 1.5, 1e308, -0, 65536, 2 ** 53),
  fc.boolean(),
  fc.constant(null),
  fc.constant<Json>([]),
  fc.constant<Json>({}),
  fc.array(fc.oneof(fc.integer(), oddString), { maxLength: 3 }),
  oddString,
  hugeString,
  fc.constantFrom('', ' ', 'true', '5432', '../x', 'a/b', 'a\\b', 'a\u0000b', 'postgres://u:p@h/db'),
);

const badNames = [
  '../x',
  '../../etc/passwd',
  'a/b',
  'a\\b',
  '..\\..\\x',
  'a\u0000b',
  '..',
  '.',
  '',
  ' x',
  'x ',
  'Ωmega',
  '😀',
  'x\u202Eyz',
  'x\ny',
  'A'.repeat(65),
  'x'.repeat(10_000),
  '__proto__',
  'constructor',
];

/** Template syntax, `${VAR}` and broken brackets, as they might be pasted into any string value. */
const badTemplates = [
  '<<#if a>>',
  '<<../x>>',
  '<<a}}{{b>>',
  '<<log Env.x>>',
  '<<@root>>',
  '<<@index>>',
  '<<>>',
  '<< >>',
  '<<this>>',
  '<<Env.missing>>',
  '<<nope.response.x>>',
  '<<credentials.response.password>>',
  '<<lookup>>',
  '<<lookup Env "x" "y">>',
  '<<lookup (log Env) "x">>',
  '<<Env.[x]>>',
  '<<Env.x.>>',
  '<<Env.true>>',
  '<<"str">>',
  '<<1>>',
  '<<{{x}}>>',
  '<<<<Env.x>>>>',
  '<<Env.x',
  'Env.x>>',
  '{{x}}',
  '{{#each a}}{{/each}}',
  '${NOPE}',
  '$${NOPE}',
  '${SET_VAR}',
  '${1BAD}',
  '${}',
  '<<Env.${SET_VAR}>>',
  '<<${NOPE}>>',
];

type Mutation =
  | { kind: 'set'; at: number; value: Json }
  | { kind: 'unknown'; at: number; key: string; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'name'; value: Json }
  | { kind: 'template'; at: number; text: string; how: 'replace' | 'prefix' | 'suffix' };

const structuralMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: wrongValue }),
  fc.record({
    kind: fc.constant('unknown' as const),
    at: fc.nat(),
    key: fc.oneof(fc.constantFrom('conection', 'Name', 'steps ', 'extra', '$schema2', ''), oddString, hugeString),
    value: wrongValue,
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('name' as const), value: fc.oneof(fc.constantFrom<Json>(...badNames), wrongValue) }),
);

const templateMutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constant('template' as const),
  at: fc.nat(),
  text: fc.oneof(
    fc.constantFrom(...badTemplates),
    fc
      .array(fc.constantFrom('<<', '>>', '{{', '}}', '\\', '${', '}', 'Env', '.', 'x', ' ', '"', '#', '/', '@', '~'), {
        maxLength: 12,
      })
      .map((a) => a.join('')),
  ),
  how: fc.constantFrom('replace' as const, 'prefix' as const, 'suffix' as const),
});

function mutate(doc: Json, mutation: Mutation): Json {
  switch (mutation.kind) {
    case 'set': {
      const at = pick(allPaths(doc), mutation.at);
      return at ? setAt(doc, at, mutation.value) : doc;
    }
    case 'unknown': {
      const at = pick(objectPaths(doc), mutation.at);
      return at ? setAt(doc, [...at, mutation.key], mutation.value) : doc;
    }
    case 'delete': {
      const at = pick(allPaths(doc), mutation.at);
      return at ? deleteAt(doc, at) : doc;
    }
    case 'name':
      return doc !== null && typeof doc === 'object' && !Array.isArray(doc)
        ? setAt(doc, ['name'], mutation.value)
        : doc;
    case 'template': {
      const at = pick(stringPaths(doc), mutation.at);
      if (!at) return doc;
      const old = getAt(doc, at) as string;
      const text =
        mutation.how === 'replace'
          ? mutation.text
          : mutation.how === 'prefix'
            ? mutation.text + old
            : old + mutation.text;
      return setAt(doc, at, text);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Loading and the invariants every load must keep
// ---------------------------------------------------------------------------------------------

interface WrittenFile {
  /** Path relative to the config folder, as problems name it. */
  file: string;
  kind: 'workflows' | 'integrations';
  stem: string;
}

/** Writes the files (text as given, documents as JSON), loads the folder with a time limit, removes it. */
async function loadFiles(
  workflows: Record<string, string>,
  integrations: Record<string, string>,
  raw: Record<string, Buffer> = {},
): Promise<{ config: LoadedConfig; written: WrittenFile[] }> {
  const folder = await writeConfigDir({ workflows, integrations } satisfies ConfigFiles);
  try {
    for (const [file, bytes] of Object.entries(raw)) await writeFile(path.join(folder.dir, file), bytes);
    let timer: NodeJS.Timeout | undefined;
    const config = await Promise.race([
      loadConfig(folder.dir, env),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`loadConfig did not finish within ${LOAD_TIMEOUT_MS} ms`)),
          LOAD_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    const written: WrittenFile[] = [
      ...Object.keys(workflows).map((stem) => ({ file: `workflows/${stem}.json`, kind: 'workflows' as const, stem })),
      ...Object.keys(integrations).map((stem) => ({
        file: `integrations/${stem}.json`,
        kind: 'integrations' as const,
        stem,
      })),
    ];
    return { config, written };
  } finally {
    await folder.remove();
  }
}

const asText = (doc: Json, pretty: boolean): string => JSON.stringify(doc, null, pretty ? 2 : undefined);

/**
 * The contract of loadConfig's result: each problem is one line `file: where: message` naming a file
 * that was written, with no stack; a file with a problem is not loaded; every file is either loaded or
 * has a problem (nothing is dropped silently).
 */
function expectWellFormed(config: LoadedConfig, written: readonly WrittenFile[]): void {
  const files = written.map((w) => w.file).sort((a, b) => b.length - a.length);
  const withProblems = new Set<string>();
  for (const line of config.problems) {
    expect(typeof line).toBe('string');
    expect(line, 'a problem is one line').not.toMatch(/[\n\r]/);
    // A line break in a file name is written escaped (\u2028), so that the problem stays one line.
    const file = files.find((f) => line.startsWith(`${oneLine(f)}: `));
    expect(file, `problem names no written file: ${JSON.stringify(line.slice(0, 300))}`).toBeDefined();
    if (!file) continue;
    withProblems.add(file);
    const rest = line.slice(oneLine(file).length + 2);
    expect(rest, `expected "where: message" after the file: ${JSON.stringify(line.slice(0, 300))}`).toMatch(
      /^\S[^]*?: \S/,
    );
    expect(line).not.toContain('    at ');
    expect(line).not.toMatch(/\.(ts|js):\d+:\d+/);
    expect(line).not.toContain('[object Object]');
    expect(line).not.toMatch(/^(\S+: )?(TypeError|RangeError|ReferenceError|SyntaxError)\b/);
  }
  const loaded = new Map<string, string>();
  for (const [name, w] of config.workflows) loaded.set(w.file, name);
  for (const [name, i] of config.integrations) loaded.set(i.file, name);
  for (const file of withProblems) expect(loaded.has(file), `${file} has a problem but was loaded`).toBe(false);
  for (const w of written) {
    expect(loaded.has(w.file) || withProblems.has(w.file), `${w.file} was neither loaded nor reported`).toBe(true);
    if (loaded.has(w.file)) expect(loaded.get(w.file)).toBe(w.stem);
  }
}

const toFiles = (specs: { name: string; doc: Json }[], pretty: boolean): Record<string, string> =>
  Object.fromEntries(specs.map((s) => [s.name, asText(s.doc, pretty)]));

/** A prototype that nothing may have changed. */
function expectNoPollution(): void {
  const probe = {} as Record<string, unknown>;
  expect(probe.polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('polluted');
  expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
  expect(Array.prototype).not.toHaveProperty('polluted');
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('loadConfig properties', () => {
  it('loads every valid workflow and integration with zero problems', async () => {
    await fc.assert(
      fc.asyncProperty(validConfig, fc.boolean(), async (spec, pretty) => {
        const { config, written } = await loadFiles(
          toFiles(spec.workflows, pretty),
          toFiles(spec.integrations, pretty),
        );
        expect(config.problems).toEqual([]);
        expect([...config.workflows.keys()].sort()).toEqual(spec.workflows.map((w) => w.name).sort());
        expect([...config.integrations.keys()].sort()).toEqual(spec.integrations.map((i) => i.name).sort());
        expectWellFormed(config, written);
      }),
      { numRuns: RUNS },
    );
  });

  it('turns wrong types, unknown fields, missing fields, bad names, huge and odd strings into one-line problems naming the file', async () => {
    await fc.assert(
      fc.asyncProperty(
        validConfig,
        fc.array(fc.tuple(fc.nat(), fc.array(structuralMutation, { minLength: 1, maxLength: 3 })), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.boolean(),
        async (spec, mutations, pretty) => {
          const docs = [
            ...spec.workflows.map((w) => ({ ...w, kind: 'w' })),
            ...spec.integrations.map((i) => ({ ...i, kind: 'i' })),
          ];
          for (const [target, steps] of mutations) {
            const entry = pick(docs, target);
            if (entry) entry.doc = steps.reduce(mutate, entry.doc);
          }
          const { config, written } = await loadFiles(
            toFiles(
              docs.filter((d) => d.kind === 'w'),
              pretty,
            ),
            toFiles(
              docs.filter((d) => d.kind === 'i'),
              pretty,
            ),
          );
          expectWellFormed(config, written);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('turns template syntax and ${VAR} pasted into any value into one-line problems naming the file and field', async () => {
    await fc.assert(
      fc.asyncProperty(
        validConfig,
        fc.array(fc.tuple(fc.nat(), templateMutation), { minLength: 1, maxLength: 4 }),
        async (spec, mutations) => {
          const docs = [
            ...spec.workflows.map((w) => ({ ...w, kind: 'w' })),
            ...spec.integrations.map((i) => ({ ...i, kind: 'i' })),
          ];
          for (const [target, mutation] of mutations) {
            const entry = pick(docs, target);
            if (entry) entry.doc = mutate(entry.doc, mutation);
          }
          const { config, written } = await loadFiles(
            toFiles(
              docs.filter((d) => d.kind === 'w'),
              true,
            ),
            toFiles(
              docs.filter((d) => d.kind === 'i'),
              true,
            ),
          );
          expectWellFormed(config, written);
          for (const line of config.problems) {
            // A bad template names the field it is in; a missing variable names the variable.
            if (line.includes('is not a valid template expression'))
              expect(line).toMatch(/: (connection|integration "[^"]*": connection)[.\w[\]]*: <</);
            if (line.includes('environment variable')) expect(line).toMatch(/environment variable \w+ is not set$/);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('keeps __proto__, constructor and odd-Unicode keys (newlines included) as plain keys, each problem on one line', async () => {
    const oddKey = fc.oneof(
      fc.constantFrom(
        '__proto__',
        'constructor',
        'prototype',
        'toString',
        'hasOwnProperty',
        '__defineGetter__',
        'valueOf',
      ),
      fc.constantFrom(
        'a\nb',
        'line\r\nbreak',
        'a\u2028b',
        '\u0000',
        'x\uD800',
        '\u202Eevil',
        '😀',
        'a.b',
        'a[0]',
        'a: b',
        '',
      ),
      oddString,
    );
    const oddValue = fc.oneof(
      fc.constant<Json>({ polluted: true }),
      fc.constant<Json>(
        JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}') as Json,
      ),
      fc.constant<Json>('${NOPE}'),
      fc.constant<Json>('<<#if x>>'),
      wrongValue,
    );
    await fc.assert(
      fc.asyncProperty(
        validConfig,
        fc.array(fc.record({ target: fc.nat(), at: fc.nat(), key: oddKey, value: oddValue }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (spec, inserts) => {
          const docs = [
            ...spec.workflows.map((w) => ({ ...w, kind: 'w' })),
            ...spec.integrations.map((i) => ({ ...i, kind: 'i' })),
          ];
          for (const insert of inserts) {
            const entry = pick(docs, insert.target);
            if (!entry) continue;
            // Prefer places that accept any key (params, profiles), so the key reaches the loaded document.
            const open = objectPaths(entry.doc).filter((at) => at.includes('params') || at.includes('profiles'));
            const at = pick(open.length > 0 && insert.at % 3 !== 0 ? open : objectPaths(entry.doc), insert.at);
            if (at) entry.doc = setAt(entry.doc, [...at, insert.key], JSON.parse(JSON.stringify(insert.value)) as Json);
          }
          const { config, written } = await loadFiles(
            toFiles(
              docs.filter((d) => d.kind === 'w'),
              true,
            ),
            toFiles(
              docs.filter((d) => d.kind === 'i'),
              false,
            ),
          );
          expectWellFormed(config, written);
          expectNoPollution();
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('never pollutes a prototype, whatever __proto__ and constructor keys the documents hold', async () => {
    const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype');
    const payload = fc.constantFrom(
      '{"polluted": true}',
      '{"__proto__": {"polluted": true}}',
      '{"prototype": {"polluted": true}}',
      '[{"__proto__": {"polluted": true}}]',
      '"${NOPE}"',
      '"<<Env.__proto__.polluted>>"',
    );
    await fc.assert(
      fc.asyncProperty(
        validConfig,
        fc.array(fc.record({ target: fc.nat(), at: fc.nat(), key: protoKey, value: payload }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (spec, inserts) => {
          const docs = [
            ...spec.workflows.map((w) => ({ ...w, kind: 'w' })),
            ...spec.integrations.map((i) => ({ ...i, kind: 'i' })),
          ];
          for (const insert of inserts) {
            const entry = pick(docs, insert.target);
            const at = entry ? pick(objectPaths(entry.doc), insert.at) : undefined;
            if (entry && at) entry.doc = setAt(entry.doc, [...at, insert.key], JSON.parse(insert.value) as Json);
          }
          const { config, written } = await loadFiles(
            toFiles(
              docs.filter((d) => d.kind === 'w'),
              true,
            ),
            toFiles(
              docs.filter((d) => d.kind === 'i'),
              false,
            ),
          );
          expectWellFormed(config, written);
          expectNoPollution();
          for (const workflow of config.workflows.values()) {
            expect(Object.getPrototypeOf(workflow.params)).toBe(Object.prototype);
            expect((workflow.params as Record<string, unknown>).polluted).toBeUndefined();
          }
          for (const integration of config.integrations.values()) {
            expect(Object.getPrototypeOf(integration.connection)).toBe(Object.prototype);
            expect((integration.connection as Record<string, unknown>).polluted).toBeUndefined();
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('reports non-JSON text, truncated JSON, a BOM, comments and invalid UTF-8 as one-line problems naming the file', async () => {
    const textMutation = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('bom' as const) }),
      fc.record({
        kind: fc.constant('append' as const),
        text: fc.oneof(
          fc.constantFrom(',', '}', '{', '\n// comment', '\u0000', 'garbage', '\n{"name": "x"}'),
          oddString,
        ),
      }),
      fc.record({
        kind: fc.constant('replace' as const),
        text: fc.oneof(
          fc.constantFrom(
            '',
            ' \n\t',
            'null',
            '[]',
            '"str"',
            '1',
            'true',
            '{',
            '{}',
            "{'name': 'x'}",
            '{"name": "x",}',
            '/* c */ {}',
            'NaN',
            '{"a": Infinity}',
            '\uFEFF',
          ),
          oddString,
          hugeString,
        ),
      }),
      fc.record({ kind: fc.constant('quotes' as const) }),
      fc.record({
        kind: fc.constant('bytes' as const),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
        at: fc.nat(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        validConfig,
        fc.array(fc.tuple(fc.nat(), textMutation), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (spec, mutations, pretty) => {
          const docs = [
            ...spec.workflows.map((w) => ({ ...w, kind: 'w' })),
            ...spec.integrations.map((i) => ({ ...i, kind: 'i' })),
          ];
          const texts = docs.map((d) => asText(d.doc, pretty));
          const raw: Record<string, Buffer> = {};
          for (const [target, mutation] of mutations) {
            if (docs.length === 0) break;
            const index = target % docs.length;
            const text = texts[index] ?? '';
            const doc = docs[index];
            if (!doc) continue;
            switch (mutation.kind) {
              case 'truncate':
                texts[index] = text.slice(0, mutation.at % Math.max(text.length, 1));
                break;
              case 'bom':
                texts[index] = `\uFEFF${text}`;
                break;
              case 'append':
                texts[index] = text + mutation.text;
                break;
              case 'replace':
                texts[index] = mutation.text;
                break;
              case 'quotes':
                texts[index] = text.replace(/"/g, "'");
                break;
              case 'bytes': {
                const bytes = Buffer.from(text, 'utf8');
                const cut = mutation.at % (bytes.length + 1);
                raw[`${doc.kind === 'w' ? 'workflows' : 'integrations'}/${doc.name}.json`] = Buffer.concat([
                  bytes.subarray(0, cut),
                  Buffer.from(mutation.bytes),
                  bytes.subarray(cut),
                ]);
                break;
              }
            }
          }
          const pairs = docs.map((d, i) => ({ ...d, text: texts[i] ?? '' }));
          const { config, written } = await loadFiles(
            Object.fromEntries(pairs.filter((d) => d.kind === 'w').map((d) => [d.name, d.text])),
            Object.fromEntries(pairs.filter((d) => d.kind === 'i').map((d) => [d.name, d.text])),
            raw,
          );
          expectWellFormed(config, written);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('reports deeply nested arrays as a problem naming the file, never a bare stack overflow', async () => {
    await fc.assert(
      fc.asyncProperty(
        validConfig,
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 30_000 }),
        async (spec, target, at, depth) => {
          const docs = [
            ...spec.workflows.map((w) => ({ ...w, kind: 'w' })),
            ...spec.integrations.map((i) => ({ ...i, kind: 'i' })),
          ];
          const texts = docs.map((d) => asText(d.doc, false));
          const index = docs.length === 0 ? -1 : target % docs.length;
          const doc = docs[index];
          if (doc) {
            // Nesting is spliced in as text: building it as a value would overflow the test's own stack.
            const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
            const paths = allPaths(doc.doc).filter((p) => p.length > 0);
            const where = pick(paths, at);
            const marker = '"__credflow_nested_marker__"';
            const marked = where ? setAt(doc.doc, where, '__credflow_nested_marker__') : doc.doc;
            texts[index] = asText(marked, false).replace(marker, nested);
          }
          const pairs = docs.map((d, i) => ({ ...d, text: texts[i] ?? '' }));
          const { config, written } = await loadFiles(
            Object.fromEntries(pairs.filter((d) => d.kind === 'w').map((d) => [d.name, d.text])),
            Object.fromEntries(pairs.filter((d) => d.kind === 'i').map((d) => [d.name, d.text])),
          );
          expectWellFormed(config, written);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reports odd file names (Unicode, backslashes, dots, very long, directories named *.json) by their path', async () => {
    const stem = fc.oneof(
      configName,
      fc.constantFrom(
        '..x',
        '...',
        'a\\b',
        '..\\..\\x',
        ' spaced ',
        'Ωmega',
        '😀',
        'x\u202Eyz',
        'x\u200F',
        '-dash',
        '__proto__',
        'constructor',
        'x'.repeat(200),
      ),
      // Well-formed Unicode only: a lone surrogate cannot be part of a file name on disk.
      oddString
        .map((s) => s.replaceAll('/', '_').replaceAll('\u0000', '_'))
        .filter(
          (s) =>
            s.length > 0 &&
            Buffer.byteLength(s) < 240 &&
            s !== '.' &&
            s !== '..' &&
            Buffer.from(s, 'utf8').toString('utf8') === s,
        ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(stem, { minLength: 1, maxLength: 3 }),
        fc.uniqueArray(stem, { minLength: 0, maxLength: 3 }),
        fc.boolean(),
        fc.boolean(),
        async (workflowStems, integrationStems, nameMatches, withDirectory) => {
          const workflowDoc = (name: string) =>
            asText({ name: nameMatches ? name : 'other', steps: [{ name: 's_a', code: 'return 1' }] }, true);
          const integrationDoc = (name: string) => asText({ name, kind: 'postgres', connection: { host: 'db' } }, true);
          const folder = await writeConfigDir({
            workflows: Object.fromEntries(workflowStems.map((s) => [s, workflowDoc(s)])),
            integrations: Object.fromEntries(integrationStems.map((s) => [s, integrationDoc(s)])),
            files: withDirectory ? { 'workflows/~dir.json/inner.txt': 'x', 'integrations/~d.json/inner.txt': 'y' } : {},
          });
          try {
            const config = await loadConfig(folder.dir, env);
            const written: WrittenFile[] = [
              ...workflowStems.map((s) => ({ file: `workflows/${s}.json`, kind: 'workflows' as const, stem: s })),
              ...integrationStems.map((s) => ({
                file: `integrations/${s}.json`,
                kind: 'integrations' as const,
                stem: s,
              })),
              ...(withDirectory
                ? [
                    { file: 'workflows/~dir.json', kind: 'workflows' as const, stem: '~dir' },
                    { file: 'integrations/~d.json', kind: 'integrations' as const, stem: '~d' },
                  ]
                : []),
            ];
            expectWellFormed(config, written);
          } finally {
            await folder.remove();
          }
        },
      ),
      // A name whose line breaks are written escaped (six characters each) in the problem line.
      { numRuns: 40, examples: [[['..x'], ['\u0085\u2028\t  '], false, false]] },
    );
  });
});
