/**
 * Output plumbing for the ops CLI: injectable stdout/stderr (so tests run the CLI in-process),
 * the exit-code contract, the error type commands throw for a clean one-line failure, and small
 * plain-text table helpers. Nothing here prints configuration values, so secrets cannot leak.
 */

/** A writable stream; the progress bar draws only when stderr is a TTY. */
export type CliStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
}

/** 0 success; 1 an operation, or the run it waited for, failed; 2 usage or configuration error; 3 a run awaits approval. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, awaitingApproval: 3 } as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports as one line (plus optional detail lines) with a chosen exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

export function usageError(message: string, details: readonly string[] = []): CliError {
  return new CliError(message, ExitCode.usage, details);
}

export class Printer {
  constructor(
    private readonly io: CliIo,
    readonly json: boolean,
  ) {}

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** Human text, or the JSON value in --json mode (pretty, one document per command). */
  result(human: () => string[], value: unknown): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    else for (const l of human()) this.line(l);
  }

  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }
}

/** Left-aligned columns separated by two spaces; the first row is a header when `header` is set. */
export function table(rows: readonly (readonly string[])[], header = true): string[] {
  if (rows.length === 0) return [];
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const render = (row: readonly string[]): string => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  const out = rows.map(render);
  if (header && rows.length > 1) out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out;
}

/** Key/value block: `key: value` with aligned values. */
export function fields(pairs: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`);
}
