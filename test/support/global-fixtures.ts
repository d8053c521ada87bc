/**
 * Mocha global fixtures (main process, once per run): the one Temporal dev server every parallel
 * test process connects to (test/support/temporal.ts reads its address from the environment).
 */
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { SHARED_SERVER_ENV } from './temporal';

let server: DevServer | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  server = await startDevServer({ uiPort: null });
  process.env[SHARED_SERVER_ENV.address] = server.address;
  process.env[SHARED_SERVER_ENV.namespace] = server.namespace;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await server?.stop();
}
