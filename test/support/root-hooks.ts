/** Mocha root hooks: one Temporal dev server for the whole run, stopped at the end. */
import { startTestTemporal, stopTestTemporal } from './temporal';

export const mochaHooks = {
  async beforeAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await startTestTemporal();
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopTestTemporal();
  },
};
