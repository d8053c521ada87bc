/**
 * The real worker process (src/worker.ts `runWorker`, configured by environment, both metrics ports)
 * for the dashboard picture, with one addition: adaptive Duo pacing from Duo's known limits scaled
 * by DASHBOARD_PACING_TIME_SCALE, the sandbox's time scale. The production worker paces only real Duo
 * hosts; without this a loopback sandbox would be hammered unpaced and the pacing panel stay empty.
 */
import { z } from 'zod';
import { runWorker } from '../../src/worker';

const scale = z.coerce.number().positive().parse(process.env['DASHBOARD_PACING_TIME_SCALE'] ?? '1');

runWorker(process.env, { pacing: { limits: 'duo', timeScale: scale } }).catch((err: unknown) => {
  console.error(`dashboard worker: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
