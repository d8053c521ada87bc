/**
 * Standalone Duo sandbox (`npm run sandbox`): options from CLI flags or DUO_SANDBOX_* variables,
 * validated with zod; loads and saves its data as JSON; prints where it listens. The secret key is
 * printed only when the sandbox generated it (a demo key), never when it was configured.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startDuoSandbox } from './server';

const USAGE = `Usage: npm run sandbox -- [options]
  --host HOST            listen address (DUO_SANDBOX_HOST, default 127.0.0.1)
  --port PORT            listen port, 0 = any free (DUO_SANDBOX_PORT, default 8443)
  --state-file PATH      load data from PATH if it exists, save it there on exit (DUO_SANDBOX_STATE_FILE)
  --ikey KEY             integration key of the demo account (DUO_SANDBOX_IKEY, default generated)
  --skey KEY             secret key (DUO_SANDBOX_SKEY; prefer DUO_SANDBOX_SKEY_FILE; default generated and printed)
  --skey-file PATH       file holding the secret key (DUO_SANDBOX_SKEY_FILE)
  --rate-limit N         one account-wide limit, requests per second before 429 (DUO_SANDBOX_RATE_LIMIT, default none)
  --burst N              its token bucket size (DUO_SANDBOX_BURST, default = rate limit)
  --rate-limits duo      Duo's per-category limits: modify 300/min, get object 300/min, get page 200/min,
                         get all 40/min, logs 2/min, bulk 50/min (DUO_SANDBOX_RATE_LIMITS, default off)
  --burst-seconds N      seconds of traffic a category bucket holds (DUO_SANDBOX_BURST_SECONDS, default 60)
  --time-scale K         multiply every limit by K: a minute lasts 60/K seconds (DUO_SANDBOX_TIME_SCALE, default 1)
  --bulk on|off          serve the bulk endpoints, or answer them 404 (DUO_SANDBOX_BULK, default on)
  --bulk-mode MODE       per-item (one result per item) or all-or-nothing (DUO_SANDBOX_BULK_MODE, default per-item)
  --trash-days N         days before a trashed user is purged (DUO_SANDBOX_TRASH_DAYS, default 7)
  --hostnames A,B        other host names clients may sign for this sandbox, e.g. localhost:8443
                         (DUO_SANDBOX_HOSTNAMES; its own HOST:PORT is always accepted)
  --latency-ms N         latency added to every request (DUO_SANDBOX_LATENCY_MS, default 0)
  --seed N               seed for ids and fault dice (DUO_SANDBOX_SEED)`;

const optionalNumber = (schema: z.ZodNumber) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : Number(v)))
    .pipe(schema.optional());

const OptionsSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: optionalNumber(z.number().int().min(0).max(65535)).transform((v) => v ?? 8443),
    stateFile: z.string().min(1).optional(),
    ikey: z.string().regex(/^[A-Za-z0-9]{10,40}$/, 'must be 10-40 letters or digits').optional(),
    skey: z.string().min(20, 'must be at least 20 characters').optional(),
    skeyFile: z.string().min(1).optional(),
    rateLimit: optionalNumber(z.number().positive()),
    burst: optionalNumber(z.number().positive()),
    latencyMs: optionalNumber(z.number().nonnegative()),
    seed: optionalNumber(z.number().int().nonnegative()),
    rateLimits: z.enum(['duo', 'off']).default('off'),
    burstSeconds: optionalNumber(z.number().positive()),
    timeScale: optionalNumber(z.number().positive()),
    bulk: z.enum(['on', 'off']).default('on'),
    bulkMode: z.enum(['per-item', 'all-or-nothing']).default('per-item'),
    trashDays: optionalNumber(z.number().positive()),
    hostnames: z
      .string()
      .optional()
      .transform((v) => (v ?? '').split(',').map((h) => h.trim()).filter(Boolean)),
  })
  .refine((o) => !(o.skey && o.skeyFile), { message: 'give either --skey or --skey-file, not both', path: ['skey'] })
  .refine((o) => o.burst === undefined || o.rateLimit !== undefined, { message: '--burst needs --rate-limit', path: ['burst'] })
  .refine((o) => o.burstSeconds === undefined || o.rateLimits === 'duo', { message: '--burst-seconds needs --rate-limits duo', path: ['burstSeconds'] });

const ENV: Record<string, string> = {
  host: 'DUO_SANDBOX_HOST',
  port: 'DUO_SANDBOX_PORT',
  stateFile: 'DUO_SANDBOX_STATE_FILE',
  ikey: 'DUO_SANDBOX_IKEY',
  skey: 'DUO_SANDBOX_SKEY',
  skeyFile: 'DUO_SANDBOX_SKEY_FILE',
  rateLimit: 'DUO_SANDBOX_RATE_LIMIT',
  burst: 'DUO_SANDBOX_BURST',
  latencyMs: 'DUO_SANDBOX_LATENCY_MS',
  seed: 'DUO_SANDBOX_SEED',
  rateLimits: 'DUO_SANDBOX_RATE_LIMITS',
  burstSeconds: 'DUO_SANDBOX_BURST_SECONDS',
  timeScale: 'DUO_SANDBOX_TIME_SCALE',
  bulk: 'DUO_SANDBOX_BULK',
  bulkMode: 'DUO_SANDBOX_BULK_MODE',
  trashDays: 'DUO_SANDBOX_TRASH_DAYS',
  hostnames: 'DUO_SANDBOX_HOSTNAMES',
};

const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { values: parsedFlags } = parseArgs({
    args: argv,
    options: { help: { type: 'boolean' }, ...Object.fromEntries(Object.keys(ENV).map((k) => [flagName(k), { type: 'string' as const }])) },
    strict: true,
  });
  const values = parsedFlags as Record<string, string | boolean | undefined>;
  if (values['help']) {
    console.log(USAGE);
    return;
  }
  const raw: Record<string, string | undefined> = {};
  for (const [key, envName] of Object.entries(ENV)) {
    const flag = values[flagName(key)];
    raw[key] = typeof flag === 'string' ? flag : env[envName] || undefined;
  }
  const parsed = OptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `--${flagName(String(i.path[0] ?? 'options'))}: ${i.message}`);
    console.error(`duo sandbox: invalid options: ${lines.join('; ')}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const o = parsed.data;
  const skey = o.skeyFile ? (await readFile(o.skeyFile, 'utf8')).replace(/\r?\n$/, '') : o.skey;
  const state = o.stateFile && existsSync(o.stateFile) ? (JSON.parse(await readFile(o.stateFile, 'utf8')) as unknown) : undefined;

  const sandbox = await startDuoSandbox({
    host: o.host,
    port: o.port,
    accounts: [{ name: 'demo', ...(o.ikey ? { integrationKey: o.ikey } : {}), ...(skey ? { secretKey: skey } : {}) }],
    ...(state === undefined ? {} : { state }),
    ...(o.rateLimit === undefined ? {} : { rateLimit: { requestsPerSecond: o.rateLimit, ...(o.burst === undefined ? {} : { burst: o.burst }) } }),
    ...(o.latencyMs === undefined ? {} : { latencyMs: o.latencyMs }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    ...(o.rateLimits === 'duo' ? { categoryLimits: { profile: 'duo' as const, ...(o.burstSeconds === undefined ? {} : { burstSeconds: o.burstSeconds }) } } : {}),
    ...(o.timeScale === undefined ? {} : { timeScale: o.timeScale }),
    bulk: { enabled: o.bulk === 'on', failureMode: o.bulkMode === 'all-or-nothing' ? 'allOrNothing' : 'perItem' },
    ...(o.trashDays === undefined ? {} : { limits: { trashRetentionDays: o.trashDays } }),
    hostnames: o.hostnames,
  });

  console.log(`duo sandbox listening on ${sandbox.baseUrl}`);
  console.log(`  DUO_API_HOST=${sandbox.apiHost}`);
  console.log(`  DUO_IKEY=${sandbox.account.integrationKey}`);
  console.log(skey ? '  DUO_SKEY: as configured (not shown)' : `  DUO_SKEY=${sandbox.account.secretKey}   (generated demo key)`);
  if (o.stateFile) console.log(`  state: ${o.stateFile} (${state ? 'loaded' : 'new'}; saved on exit)`);
  console.log(`  users=${sandbox.store.users.size} groups=${sandbox.store.groups.size} rate limit=${o.rateLimit ? `${o.rateLimit}/s` : 'off'}`);
  console.log(
    `  per-category limits=${o.rateLimits === 'duo' ? "Duo's" : 'off'} time scale=${o.timeScale ?? 1} bulk=${o.bulk === 'on' ? o.bulkMode : 'off (404)'} trash purge after ${o.trashDays ?? 7} days`,
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`duo sandbox: ${signal}, stopping`);
    void (async () => {
      if (o.stateFile) await sandbox.saveState(o.stateFile);
      await sandbox.stop();
    })().catch((err: unknown) => {
      console.error(`duo sandbox: could not save state to ${o.stateFile ?? ''}: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main(process.argv.slice(2), process.env).catch((err: unknown) => {
  console.error(`duo sandbox: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
