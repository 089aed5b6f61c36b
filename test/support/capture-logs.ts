import type { DestinationStream } from 'pino';

/** A pino destination that keeps every line, so tests can search what the agent logged. */
export function captureLogs(): DestinationStream & { lines: string[]; text(): string } {
  const lines: string[] = [];
  return {
    lines,
    write(line: string) {
      lines.push(line);
    },
    text() {
      return lines.join('');
    },
  };
}
