import ivm from 'isolated-vm';
import { messageOf } from '../errors.js';
import { stepParameters } from './step-parameters.js';

const MEMORY_MB = 32;

/** V8 puts the parameter list on line 1 and `) {` on line 2 of an AsyncFunction's source: step code starts on line 3. */
const FIRST_LINE = 3;

/**
 * Compiles workflow step code the way the sandbox does (the body of an AsyncFunction), in a small
 * isolate of its own; nothing of the step ever runs. One checker per load; `dispose()` frees it.
 */
export class StepCodeChecker {
  private isolate: ivm.Isolate | undefined;
  private context: ivm.Context | undefined;

  /** Undefined when the code compiles; else the cause, with a line and column relative to the step's code. */
  check(code: string, earlierSteps: readonly string[]): string | undefined {
    // The sandbox's own parameters: a step that declares `let params` fails there, so it fails here.
    const names = [...stepParameters, ...earlierSteps];
    // The same source V8 builds for `new AsyncFunction(...names, code)`: its positions are the ones
    // a user would see, which the constructor's own SyntaxError does not give.
    const source = `(async function anonymous(${names.join(',')}\n) {\n${code}\n})`;
    // An isolate that ran out of memory on a huge step is disposed: the next step gets a new one.
    if (this.isolate?.isDisposed) this.dispose();
    const isolate = (this.isolate ??= new ivm.Isolate({ memoryLimit: MEMORY_MB }));
    try {
      isolate.compileScriptSync(source, { filename: 'step.js' }).release();
    } catch (error) {
      if (isolate.isDisposed) return `the code is too large to compile within the ${MEMORY_MB} MB the check allows`;
      return describe(messageOf(error), code);
    }
    // Code that closes the wrapper and opens another (`}); (async function () {`) compiles above;
    // the sandbox's constructor parses the body on its own and refuses it, so this does too.
    const context = (this.context ??= isolate.createContextSync());
    try {
      context.evalClosureSync(
        'const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor; new AsyncFunction(...$0.split(","), $1);',
        [names.join(','), code],
        { timeout: 1000 },
      );
    } catch (error) {
      return `${messageOf(error).replace(/ \[<isolated-vm>:\d+:\d+\]$/, '')} (the code must be the body of one function)`;
    }
    return undefined;
  }

  dispose(): void {
    if (this.isolate && !this.isolate.isDisposed) this.context?.release();
    if (this.isolate && !this.isolate.isDisposed) this.isolate.dispose();
    this.isolate = undefined;
    this.context = undefined;
  }
}

/** `missing ) after argument list [step.js:3:22]` -> `line 1, column 22: missing ) after argument list`. */
function describe(message: string, code: string): string {
  const match = /^(.*) \[step\.js:(\d+):(\d+)\]$/s.exec(message);
  if (!match) return message;
  const [, cause = message, line, column] = match;
  const userLine = Number(line) - FIRST_LINE + 1;
  // Past the last line, V8 names the wrapper's closing `})`, which the user never wrote.
  if (userLine < 1 || userLine > code.split('\n').length)
    return 'unexpected end of the code (an unclosed bracket, brace, parenthesis or string?)';
  return `line ${userLine}, column ${column}: ${cause}`;
}
