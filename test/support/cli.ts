/** Runs the ops CLI in-process (runCli) against the test Temporal server, capturing its output. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { runCli, ExitCode } from '../../src/cli/main';
import { testTemporal } from './temporal';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

export function collector(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

export interface CliDriver {
  cli(...argv: string[]): Promise<CliRun>;
  /** Runs with `--json`, asserts exit 0 and parses stdout. */
  jsonOf<T>(...argv: string[]): Promise<T>;
}

export function cliDriver(env: () => NodeJS.ProcessEnv): CliDriver {
  const cli = async (...argv: string[]): Promise<CliRun> => {
    const stdout = collector();
    const stderr = collector();
    const code = await runCli(argv, { stdout: stdout.stream, stderr: stderr.stream }, env(), { pollMs: 100 });
    return { code, out: stdout.text(), err: stderr.text() };
  };
  return {
    cli,
    async jsonOf<T>(...argv: string[]): Promise<T> {
      const r = await cli('--json', ...argv);
      assert.equal(r.code, ExitCode.ok, `${argv.join(' ')}: ${r.err}`);
      return JSON.parse(r.out) as T;
    },
  };
}

/** The environment the CLI reads to reach the test server and a test worker's task queue. */
export function cliEnv(taskQueue: string): NodeJS.ProcessEnv {
  const { server } = testTemporal();
  return { TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace, TEMPORAL_TASK_QUEUE: taskQueue };
}
