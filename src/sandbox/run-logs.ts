import type { SandboxLimits } from '../config/index.js';
import { truncate } from '../errors.js';
import type { LogLevel, StepResult } from './contract.js';

type LogLine = StepResult['logs'][number];
type LogLimits = Pick<SandboxLimits, 'maxLogBytes' | 'maxLogLines' | 'maxRunLogBytes' | 'maxRunLogLines'>;

const cutMessage = (count: number, limits: LogLimits): string =>
  `... ${count} more ${count === 1 ? 'line' : 'lines'} cut (run log limit: ${limits.maxRunLogLines} lines or ${limits.maxRunLogBytes} bytes per run)`;

/**
 * The log lines one run keeps, across its steps: each step at most maxLogLines lines of maxLogBytes
 * characters, and the run as a whole at most maxRunLogLines lines and maxRunLogBytes bytes (UTF-8).
 * Once the run's budget is spent every later line is cut; each step that had lines cut ends with one
 * marker line that counts them. So what a run's logs hold is bounded whatever its step count.
 */
export class RunLogBudget {
  private lines = 0;
  private bytes = 0;
  private full = false;
  private readonly markers = new Map<LogLine[], { line: LogLine; count: number }>();

  constructor(private readonly limits: LogLimits) {}

  /** The run's budget is spent: every later line is cut. */
  get isFull(): boolean {
    return this.full;
  }

  /** Adds one console line of a step (its `logs`), or cuts it. */
  add(logs: LogLine[], level: LogLevel, text: string): void {
    const { maxLogLines, maxLogBytes } = this.limits;
    if (this.full) return this.cut(logs);
    if (logs.length >= maxLogLines) return;
    const message =
      logs.length === maxLogLines - 1 ? `(log limit of ${maxLogLines} lines reached)` : truncate(text, maxLogBytes);
    const bytes = Buffer.byteLength(message);
    if (this.lines + 1 > this.limits.maxRunLogLines || this.bytes + bytes > this.limits.maxRunLogBytes) {
      this.full = true;
      return this.cut(logs);
    }
    this.lines += 1;
    this.bytes += bytes;
    logs.push({ level, message });
  }

  private cut(logs: LogLine[]): void {
    let marker = this.markers.get(logs);
    if (!marker) {
      marker = { line: { level: 'warn', message: '' }, count: 0 };
      this.markers.set(logs, marker);
      logs.push(marker.line);
    }
    marker.count += 1;
    marker.line.message = cutMessage(marker.count, this.limits);
  }
}

/**
 * The agent's check of logs a sandbox worker sent (it already applied RunLogBudget; one that did not
 * is held to the same bounds here): lines past a step's or the run's limits are dropped, with a marker.
 * Each step may add one marker line of its own beyond the run's budget.
 */
export function capRunLogs(steps: readonly StepResult[], limits: LogLimits): StepResult[] {
  const maxLines = limits.maxRunLogLines + steps.length;
  const maxBytes = limits.maxRunLogBytes + 256 * steps.length;
  let lines = 0;
  let bytes = 0;
  return steps.map((step) => {
    const logs: LogLine[] = [];
    let cut = 0;
    for (const line of step.logs.slice(0, limits.maxLogLines + 1)) {
      const message =
        line.message.length > limits.maxLogBytes + 200 ? truncate(line.message, limits.maxLogBytes) : line.message;
      const size = Buffer.byteLength(message);
      if (cut > 0 || lines + 1 > maxLines || bytes + size > maxBytes) {
        cut += 1;
        continue;
      }
      lines += 1;
      bytes += size;
      logs.push(message === line.message ? line : { level: line.level, message });
    }
    if (cut > 0) logs.push({ level: 'warn', message: cutMessage(cut, limits) });
    return { ...step, logs };
  });
}
