// Over 250 lines: one script for the isolate, kept whole so V8 caches it as one compiled unit.
/**
 * JavaScript evaluated in each fresh context to run one step. It takes the host references and the
 * JSON input from temporary globals, deletes those globals and keeps the references in a closure,
 * so step code can reach the bridge functions but never an isolated-vm Reference.
 *
 * The step's code arrives as a string in the input and becomes the body of an AsyncFunction, so it
 * cannot close the wrapper and run code outside it; what it may use (params, Env, context, aws,
 * console, the earlier steps' outputs, ...) are the function's parameters. Its return value is
 * turned into a JSON string inside the isolate, reading each property once (getters run here, in
 * the sandbox) with built-ins captured before step code could replace them, and refusing what JSON
 * cannot hold. The evaluation's result is a promise of that string, which the guest's host side measures
 * against maxResponseBytes and checks (read-answer.ts).
 */
/*
 * The functions every run calls are wrapped in parentheses: V8 then compiles them with the
 * wrapper, so they are in the code cache each new isolate starts from, instead of being compiled
 * again in every run when first called.
 */
import { bridgeFunctions, bridgeRoots, stepParameters } from '../../config/index.js';

/**
 * A step's error message crosses to the host cut to this many characters (with its whole length), so
 * a step throwing an Error with a message of megabytes is reported as what it is.
 */
export const maxMessageLength = 2000;
/** An error's name crosses cut to this many characters. */
export const maxErrorNameLength = 200;

export const bootstrapSource = String.raw`
(function () {
  'use strict';
  const g = globalThis;
  const bridge = g.__cf_bridge;
  const log = g.__cf_log;
  const input = JSON.parse(g.__cf_input);
  // The run's remaining bridge budget, counted here too, so a flood of calls is refused inside the
  // isolate without queueing any work on the host.
  let callsLeft = input.bridgeCallsLeft;
  const maxBridgeCalls = input.maxBridgeCalls;
  const maxDepth = 100;
  delete g.__cf_bridge;
  delete g.__cf_log;
  delete g.__cf_input;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const ErrorCtor = Error;
  const TypeErrorCtor = TypeError;
  const ObjectProto = Object.prototype;
  const keysOf = Object.keys;
  const defineProperty = Object.defineProperty;
  const protoOf = Object.getPrototypeOf;
  const freeze = Object.freeze;
  const isArray = Array.isArray;
  const isFinite = Number.isFinite;
  const StringCtor = String;
  const create = Object.create;
  const assign = Object.assign;
  // isolated-vm reads each option with an ordinary property get, so an option object that inherits
  // from Object.prototype would honour getters step code defines there (reference, copy, timeout,
  // ...). Every option object is made here, before step code runs, with no prototype, and frozen.
  const options = ((fields) => freeze(assign(create(null), fields)));
  const bridgeOptions = options({ result: options({ promise: true }) });
  const apply = Reflect.apply;
  const sliceText = String.prototype.slice;
  const maxMessageLength = ${maxMessageLength};
  const maxErrorNameLength = ${maxErrorNameLength};
  // A text longer than max, cut with the String.prototype.slice captured here.
  const cutText = ((text, max) => (text.length > max ? apply(sliceText, text, [0, max]) : text));
  const AsyncFunction = protoOf(async function () {}).constructor;
  // V8 notes where a function made from a string was made, which needs the source positions of the
  // calling function: called from this whole wrapper, that means compiling the wrapper again for
  // every step; called from this small function, it costs next to nothing.
  const compileStep = ((parts) => new AsyncFunction(...parts));
  const PromiseCtor = Promise;
  const promiseThen = Promise.prototype.then;
  const settled = ((value) => new PromiseCtor((resolve) => resolve(value)));

  const format = ((value) => {
    if (typeof value === 'string') return value;
    if (value instanceof ErrorCtor) return '' + value.name + ': ' + value.message;
    try {
      const text = stringify(value);
      return typeof text === 'string' ? text : StringCtor(value);
    } catch (e) {
      return StringCtor(value);
    }
  });
  // The line is joined here, without Array.prototype.map or join (step code may replace them), and
  // is a string whatever the step did. Once the host says no more lines are kept (the step's or the
  // run's log limit), a line is only counted there: its text is neither made nor copied out.
  let logsFull = input.logsFull === true;
  const makeLogger = (level) => (...args) => {
    if (logsFull) {
      log.applySync(undefined, [level, null]);
      return;
    }
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i === 0 ? '' : ' ') + format(args[i]);
    if (log.applySync(undefined, [level, '' + line]) === true) logsFull = true;
  };
  const console = freeze({
    log: makeLogger('info'),
    info: makeLogger('info'),
    warn: makeLogger('warn'),
    error: makeLogger('error'),
    debug: makeLogger('debug'),
  });

  const call = (async (method, args) => {
    if (callsLeft <= 0) {
      const error = new ErrorCtor('a run may make at most ' + maxBridgeCalls + ' bridge calls');
      error.name = 'LimitExceededException';
      throw error;
    }
    callsLeft -= 1;
    let payload;
    try {
      payload = stringify(args === undefined ? null : args);
    } catch (e) {
      throw new TypeError(method + ': arguments must be JSON');
    }
    const answer = parse(await bridge.apply(undefined, [method, payload], bridgeOptions));
    if (answer.error) {
      const error = new ErrorCtor(answer.error.message);
      // Defined, not assigned: a getter step code put on Object.prototype or Error.prototype runs not.
      defineProperty(error, 'name', { value: answer.error.name, writable: true, configurable: true, enumerable: true });
      if (answer.error.code !== undefined)
        defineProperty(error, 'code', { value: answer.error.code, writable: true, configurable: true, enumerable: true });
      throw error;
    }
    return answer.value;
  });

  // aws, vault and http: frozen objects of the bridge functions, each calling the host by its path.
  const roots = ${JSON.stringify(bridgeRoots)};
  const tree = create(null);
  for (const root of roots) tree[root] = create(null);
  for (const [path, positional] of ${JSON.stringify(bridgeFunctions.map((f) => [f.path, f.positional === true]))}) {
    const parts = path.split('.');
    let node = tree;
    for (let i = 0; i < parts.length - 1; i++) node = node[parts[i]] || (node[parts[i]] = create(null));
    node[parts[parts.length - 1]] = positional ? (...args) => call(path, args) : (request) => call(path, request);
  }
  const plain = (node) => {
    const out = {};
    for (const key of keysOf(node)) out[key] = typeof node[key] === 'function' ? node[key] : plain(node[key]);
    return freeze(out);
  };
  const [aws, vault, http] = roots.map((root) => plain(tree[root]));

  // A bare isolate has no atob/btoa; SecretBinary arrives as base64, so steps get both, plus
  // base64.decode/encode that treat the bytes as UTF-8 text.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const atob = (input) => {
    const text = String(input).replace(/[\t\n\f\r ]/g, '').replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) throw new TypeError('atob: the string is not valid base64');
    let out = '';
    let buffer = 0;
    let bits = 0;
    for (let i = 0; i < text.length; i++) {
      buffer = (buffer << 6) | alphabet.indexOf(text[i]);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += String.fromCharCode((buffer >> bits) & 0xff);
      }
    }
    return out;
  };
  const btoa = (input) => {
    const text = String(input);
    let out = '';
    for (let i = 0; i < text.length; i += 3) {
      const a = text.charCodeAt(i);
      const b = text.charCodeAt(i + 1);
      const c = text.charCodeAt(i + 2);
      if (a > 255 || b > 255 || c > 255) throw new TypeError('btoa: the string holds characters outside Latin-1');
      const n = (a << 16) | ((b || 0) << 8) | (c || 0);
      out += alphabet[(n >> 18) & 63] + alphabet[(n >> 12) & 63];
      out += i + 1 < text.length ? alphabet[(n >> 6) & 63] : '=';
      out += i + 2 < text.length ? alphabet[n & 63] : '=';
    }
    return out;
  };
  const base64 = freeze({
    decode: (input) => decodeURIComponent(escape(atob(input))),
    encode: (input) => btoa(unescape(encodeURIComponent(String(input)))),
  });

  const toJson = ((value, path, seen) => {
    if (value === null) return null;
    if (seen.length >= maxDepth) throw new TypeErrorCtor(path + ' is nested deeper than ' + maxDepth + ' levels');
    const type = typeof value;
    if (type === 'string' || type === 'boolean') return value;
    if (type === 'number') {
      if (!isFinite(value)) throw new TypeErrorCtor(path + ' is ' + value + ', which JSON cannot hold');
      return value;
    }
    if (type !== 'object') throw new TypeErrorCtor(path + ' is a ' + type + ', which JSON cannot hold');
    if (seen.indexOf(value) !== -1) throw new TypeErrorCtor(path + ' refers back to itself (a cycle)');
    if (typeof value.toJSON === 'function') return toJson(value.toJSON(), path, seen);
    seen.push(value);
    let out;
    if (isArray(value)) {
      out = [];
      for (let i = 0; i < value.length; i++) out.push(toJson(value[i], path + '[' + i + ']', seen));
    } else {
      const proto = protoOf(value);
      if (proto !== ObjectProto && proto !== null) {
        throw new TypeErrorCtor(path + ' is a ' + (value.constructor && value.constructor.name || 'non-plain object') + ', which JSON cannot hold');
      }
      out = {};
      for (const key of keysOf(value)) {
        const item = value[key];
        if (item === undefined) continue;
        defineProperty(out, key, { value: toJson(item, path + '.' + key, seen), enumerable: true, writable: true, configurable: true });
      }
    }
    seen.pop();
    return out;
  });

  const serialize = ((value) => {
    const text = value === undefined ? 'null' : stringify(toJson(value, 'the returned value', []));
    return '{"ok":true,"value":' + text + '}';
  });
  const describe = ((error) => {
    let name = 'Error';
    let message;
    try {
      const isError = error instanceof ErrorCtor;
      name = isError && typeof error.name === 'string' ? error.name : 'Error';
      message = isError ? StringCtor(error.message) : 'threw a non-Error value: ' + format(error);
    } catch (e) {
      message = 'threw a value that could not be read';
    }
    // Only the start of a long message crosses, with its length, so the host can say what happened.
    const text = '' + message;
    // Object literals define their properties: no setter step code put on Object.prototype runs.
    const short = { name: cutText('' + name, maxErrorNameLength), message: cutText(text, maxMessageLength) };
    const described = text.length > maxMessageLength ? { name: short.name, message: short.message, messageLength: text.length } : short;
    return stringify({ ok: false, error: described });
  });
  // WebAssembly memory is allocated outside the isolate's limit: the sandbox has no WebAssembly.
  delete g.WebAssembly;
  // What a step sees (what the sandbox provides, then the earlier steps' outputs by step name)
  // are parameters of its function, not globals: a step compiles several times faster than after
  // defining a dozen globals. Step names are identifiers, checked by the config, by checkSteps and
  // by the worker's message schema.
  const names = ${JSON.stringify(stepParameters)};
  const values = [console, atob, btoa, base64, aws, vault, http, input.params, input.env, input.context];
  for (const name of keysOf(input.steps)) {
    names.push(name);
    values.push(input.steps[name]);
  }
  names.push(input.code);

  let body;
  try {
    body = compileStep(names);
  } catch (error) {
    return settled(stringify({ ok: false, compile: true, error: { name: 'SyntaxError', message: cutText(StringCtor(error && error.message), maxMessageLength) } }));
  }
  let running;
  try {
    running = body.apply(undefined, values);
  } catch (error) {
    return settled(describe(error));
  }
  return promiseThen.call(promiseThen.call(settled(running), serialize), (text) => text, describe);
})();

`;
