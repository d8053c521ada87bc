/**
 * Starts the pinned Temporal CLI dev server as a child process (for `npm start` and the test
 * harness) and waits until its frontend answers. We launch it ourselves instead of using
 * TestWorkflowEnvironment.createLocal because sdk-core gives the server only a few seconds to come
 * up, which a cold 2-core machine (SQLite migration + UI) does not always meet.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { DUO_SYNC_SEARCH_ATTRIBUTES } from '../contract';

const execFileAsync = promisify(execFile);

export interface DevServerOptions {
  /** Path of the Temporal CLI; found or installed by scripts/temporal-cli.sh when absent. */
  cliPath?: string;
  ip?: string;
  /** gRPC port; a free one is picked when absent. */
  port?: number;
  /** Web UI port; `null` runs headless. */
  uiPort?: number | null;
  /** SQLite file; in-memory when absent. */
  dbFile?: string;
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'never';
  codecEndpoint?: string;
  startTimeoutMs?: number;
  /** Forward server output to this process's stderr (useful for `npm start`). */
  inheritOutput?: boolean;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | null;
  stop(): Promise<void>;
}

const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

export async function findTemporalCli(): Promise<string> {
  const script = resolve(__dirname, '../../scripts/temporal-cli.sh');
  try {
    const { stdout } = await execFileAsync('bash', [script], { maxBuffer: 1 << 20 });
    return stdout.trim();
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`cannot find or install the Temporal CLI:\n${stderr.trim()}`);
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function searchAttributeArgs(keys: readonly { name: string; type: SearchAttributeType }[]): string[] {
  return keys.flatMap((key) => ['--search-attribute', `${key.name}=${CLI_TYPE_NAMES[key.type]}`]);
}

async function waitForFrontend(address: string, namespace: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Temporal dev server exited early (code ${child.exitCode ?? child.signalCode}); run it by hand to see why`);
    }
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.workflowService.describeNamespace({ namespace });
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      await connection?.close();
    }
  }
  throw new Error(`Temporal dev server at ${address} did not become ready within ${timeoutMs} ms (${lastError})`);
}

export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const cliPath = options.cliPath ?? (await findTemporalCli());
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? (await freePort(ip));
  const namespace = options.namespace ?? 'default';
  const args = [
    'server', 'start-dev',
    '--ip', ip,
    '--port', String(port),
    '--namespace', namespace,
    '--log-level', options.logLevel ?? 'warn',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    ...searchAttributeArgs(DUO_SYNC_SEARCH_ATTRIBUTES),
  ];
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  const uiPort = options.uiPort === undefined ? null : options.uiPort;
  if (uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (options.codecEndpoint) args.push('--ui-codec-endpoint', options.codecEndpoint);

  const child = spawn(cliPath, args, { stdio: ['ignore', options.inheritOutput ? 'inherit' : 'ignore', options.inheritOutput ? 'inherit' : 'pipe'] });
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const address = `${ip}:${port}`;
  try {
    await waitForFrontend(address, namespace, child, options.startTimeoutMs ?? 90_000);
  } catch (err) {
    child.kill('SIGKILL');
    const detail = stderrTail.trim() ? `\n${stderrTail.trim()}` : '';
    throw new Error(`${(err as Error).message}${detail}`);
  }
  return {
    address,
    namespace,
    uiUrl: uiPort === null ? null : `http://${ip}:${uiPort}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
