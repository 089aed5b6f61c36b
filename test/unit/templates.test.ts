import { describe, it, expect } from 'vitest';
import { CredflowError } from '../../src/errors.js';
import { compileFields, compileValue } from '../../src/templates/index.js';
import { errorOf } from '../support/error-of.js';

const where = { integration: 'demo-postgres', field: 'connection.password' };

const context = {
  getSecrets: {
    response: {
      host: 'db.internal',
      port: 5432,
      ssl: true,
      username: 'app',
      password: `p&<>"'{}<<{{x}}>>`,
      options: { sslmode: 'require', tags: ['a', 'b'] },
      'odd key': 'odd-value',
      empty: '',
      nothing: null,
    },
  },
  credentials: { response: { password: 'from-alias' } },
  Env: { DB_NAME: 'orders' },
};

function render(source: string, ctx: Record<string, unknown> = context): unknown {
  return compileValue(source, where).render(ctx, where);
}

describe('compileValue', () => {
  it('keeps the JSON type of a value when the field is exactly one template', () => {
    expect(render('<<getSecrets.response.port>>')).toBe(5432);
    expect(render('<<getSecrets.response.ssl>>')).toBe(true);
    expect(render('<<getSecrets.response.options>>')).toEqual({ sslmode: 'require', tags: ['a', 'b'] });
  });

  it('returns a copy of an object value, so the cached workflow response cannot be changed through it', () => {
    const rendered = render('<<getSecrets.response.options>>') as { sslmode: string };
    rendered.sslmode = 'disable';
    expect(context.getSecrets.response.options.sslmode).toBe('require');
  });

  it('allows whitespace inside the brackets of a whole-field template', () => {
    expect(render('<< getSecrets.response.port >>')).toBe(5432);
  });

  it('renders templates inside other text as a string, numbers via String()', () => {
    expect(render('postgres://<<getSecrets.response.username>>@db:5432/app')).toBe('postgres://app@db:5432/app');
    expect(render('<<getSecrets.response.host>>:<<getSecrets.response.port>>')).toBe('db.internal:5432');
    expect(render(' <<getSecrets.response.port>>')).toBe(' 5432');
  });

  it('delivers a password with & < > " \' { } << and {{ byte for byte, never parsing it again', () => {
    expect(render('<<getSecrets.response.password>>')).toBe(`p&<>"'{}<<{{x}}>>`);
    expect(render('[<<getSecrets.response.password>>]')).toBe(`[p&<>"'{}<<{{x}}>>]`);
  });

  it('renders an empty string value as an empty string, since it is present', () => {
    expect(render('x<<getSecrets.response.empty>>y')).toBe('xy');
  });

  it('leaves literal {{, }} and a lone >> exactly as written', () => {
    expect(render('{{not.a.template}} and }} stay')).toBe('{{not.a.template}} and }} stay');
    expect(render('a >> b')).toBe('a >> b');
    expect(render('<<<getSecrets.response.port>>')).toBe('<5432');
    expect(compileValue('{{x}} >> y', where).hasTemplates).toBe(false);
  });

  it('rejects a << that is never closed (it would be sent as a literal password), naming field and position only', () => {
    for (const [source, at] of [
      ['<<getSecrets.response.password', 1],
      ['a << b', 3],
      ['<<getSecrets.response.port>> << tail', 30],
    ] as const) {
      const error = errorOf(() => compileValue(source, where));
      expect(error.code).toBe('TEMPLATE_INVALID');
      expect(error.message).toBe(
        `integration "demo-postgres": connection.password: << at character ${at} is never closed with >> (a value that must hold "<<" can be given as \${VAR})`,
      );
    }
  });

  it('fails on a missing path with a message naming the integration, the field and the path', () => {
    const error = errorOf(() => render('<<getSecrets.response.pasword>>'));
    expect(error.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(error.message).toBe(
      'integration "demo-postgres": connection.password: <<getSecrets.response.pasword>> has no value ' +
        '(getSecrets.response has no "pasword")',
    );
    expect(error.details).toMatchObject({ integration: 'demo-postgres', field: 'connection.password' });
  });

  it('fails on a missing path inside text instead of rendering an empty string', () => {
    const error = errorOf(() => render('postgres://<<getSecrets.response.user>>@db/app'));
    expect(error.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(error.message).toContain('<<getSecrets.response.user>>');
  });

  it('names the available workflows when the first segment is unknown', () => {
    const error = errorOf(() => render('<<getSecretz.response.host>>'));
    expect(error.message).toContain('the context has no "getSecretz"; it has "getSecrets", "credentials", "Env"');
  });

  it('treats null as missing', () => {
    const error = errorOf(() => render('<<getSecrets.response.nothing>>'));
    expect(error.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(error.message).toContain('getSecrets.response.nothing is null');
  });

  it('says a path runs through a string without quoting the string', () => {
    const error = errorOf(() => render('<<getSecrets.response.password.length>>'));
    expect(error.message).toContain('getSecrets.response.password is a string, not an object');
    expect(error.message).not.toContain('p&<>');
  });

  it('refuses to embed an object in text, naming integration, field and path', () => {
    const error = errorOf(() => render('opts=<<getSecrets.response.options>>'));
    expect(error.code).toBe('TEMPLATE_INVALID');
    expect(error.message).toMatch(
      /^integration "demo-postgres": connection\.password: <<getSecrets\.response\.options>> is an object/,
    );
  });

  it('reads keys with odd characters through Handlebars [ ] segments', () => {
    expect(render('<<getSecrets.response.[odd key]>>')).toBe('odd-value');
  });

  it('runs the lookup helper, keeping the type of a whole-field result', () => {
    expect(render('<<lookup getSecrets.response "odd key">>')).toBe('odd-value');
    expect(render('<<lookup getSecrets.response "port">>')).toBe(5432);
    expect(render('port=<<lookup getSecrets.response "port">>')).toBe('port=5432');
  });

  it('fails when lookup finds nothing instead of rendering an empty string', () => {
    const error = errorOf(() => render('x<<lookup getSecrets.response "nope">>'));
    expect(error.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(error.message).toContain('<<lookup getSecrets.response "nope">> has no value');
  });

  it('reports a syntax error as TEMPLATE_INVALID naming integration and field', () => {
    for (const source of ['<<getSecrets.response.>>', '<<>>', '<<a}}{{b>>', '<<#if a>>', '<<!comment>>']) {
      const error = errorOf(() => compileValue(source, where));
      expect(error.code, source).toBe('TEMPLATE_INVALID');
      expect(error.message, source).toMatch(
        /^integration "demo-postgres": connection\.password: <<.*>> is not a valid/,
      );
    }
  });

  it('rejects helpers other than lookup, so log cannot print a secret', () => {
    const error = errorOf(() => compileValue('<<log getSecrets.response.password>>', where));
    expect(error.code).toBe('TEMPLATE_INVALID');
    expect(error.message).toContain('unknown helper "log"');
  });

  it('keeps prototype access disabled: constructor and __proto__ are missing', () => {
    for (const source of [
      '<<getSecrets.response.constructor>>',
      '<<getSecrets.response.__proto__>>',
      '<<lookup getSecrets.response "constructor">>',
      'x<<getSecrets.response.toString>>',
    ]) {
      expect(errorOf(() => render(source)).code, source).toBe('TEMPLATE_MISSING_VALUE');
    }
  });

  it('reads Env and the credentials alias', () => {
    expect(render('<<Env.DB_NAME>>')).toBe('orders');
    expect(render('<<credentials.response.password>>')).toBe('from-alias');
  });

  it('lists the paths it reads, without duplicates, for config validation', () => {
    const compiled = compileValue(
      '<<getSecrets.response.host>>:<<Env.PORT>>/<<getSecrets.response.host>>?<<lookup credentials.response "x">>',
      where,
    );
    expect(compiled.hasTemplates).toBe(true);
    expect(compiled.paths).toEqual(['getSecrets.response.host', 'Env.PORT', 'credentials.response']);
  });

  it('compiles once and renders many times with different contexts', () => {
    const compiled = compileValue('<<getSecrets.response.username>>:<<getSecrets.response.port>>', where);
    const as = (username: string, port: number) => ({ getSecrets: { response: { username, port } } });
    expect(compiled.render(as('alice', 1), where)).toBe('alice:1');
    expect(compiled.render(as('bob', 2), where)).toBe('bob:2');
    expect(() => compiled.render({}, where)).toThrow(CredflowError);
    expect(compiled.render(as('carol', 3), where)).toBe('carol:3');
  });

  it('returns a value without templates unchanged', () => {
    const compiled = compileValue('plain text', where);
    expect(compiled.hasTemplates).toBe(false);
    expect(compiled.paths).toEqual([]);
    expect(compiled.render({}, where)).toBe('plain text');
  });
});

describe('compileFields', () => {
  const fields = {
    host: '<<getSecrets.response.host>>',
    port: '<<getSecrets.response.port>>',
    database: 'app',
    statementTimeoutMs: 5000,
    ssl: { rejectUnauthorized: false, servername: '<<getSecrets.response.host>>' },
    hosts: ['<<Env.DB_NAME>>-a', 'b'],
  };

  it('renders every string in nested fields and passes other values through unchanged', () => {
    expect(compileFields(fields, 'demo-postgres').render(context)).toEqual({
      host: 'db.internal',
      port: 5432,
      database: 'app',
      statementTimeoutMs: 5000,
      ssl: { rejectUnauthorized: false, servername: 'db.internal' },
      hosts: ['orders-a', 'b'],
    });
  });

  it('lists every path the fields read', () => {
    expect(compileFields(fields, 'demo-postgres').paths).toEqual([
      'getSecrets.response.host',
      'getSecrets.response.port',
      'Env.DB_NAME',
    ]);
  });

  it('names the nested field in errors, with the given prefix', () => {
    const compiled = compileFields({ ssl: { ca: '<<getSecrets.response.ca>>' } }, 'demo-postgres');
    expect(errorOf(() => compiled.render(context)).message).toMatch(
      /^integration "demo-postgres": connection\.ssl\.ca: /,
    );
    expect(errorOf(() => compileFields({ list: ['<<a b c>>'] }, 'x', 'options')).message).toMatch(
      /^integration "x": options\.list\[0\]: /,
    );
  });
});
