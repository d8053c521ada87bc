/**
 * Runs the codec server for the Temporal Web UI / CLI:
 *   node -r ts-node/register/transpile-only src/codec/main.ts
 * Keys come from DUO_SYNC_CODEC_KEYS (or DUO_SYNC_CODEC_KEYS_FILE) and DUO_SYNC_CODEC_ACTIVE_KEY, as
 * for the worker. DUO_SYNC_CODEC_SERVER_HOST (127.0.0.1), DUO_SYNC_CODEC_SERVER_PORT (8888) and
 * DUO_SYNC_CODEC_CORS_ORIGINS (comma-separated; default the dev server's UI on DUO_SYNC_UI_PORT or
 * 8233) place it. Then start the UI with `--ui-codec-endpoint http://127.0.0.1:8888`. See docs/codec.md.
 */
import { z } from 'zod';
import { ConfigError, loadProcessConfig, PortSchema, readEnv } from '../config/env';
import { AesGcmPayloadCodec } from './aes-gcm';
import { loadCodecKeyring } from './config';
import { startCodecServer } from './server';

const CodecServerEnvSchema = z.object({
  DUO_SYNC_CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
  DUO_SYNC_CODEC_SERVER_PORT: PortSchema.default(8888),
  DUO_SYNC_UI_PORT: PortSchema.default(8233),
  DUO_SYNC_CODEC_CORS_ORIGINS: z
    .string()
    .transform((v) => v.split(',').map((o) => o.trim()).filter((o) => o.length > 0))
    .pipe(z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ }).refine((u) => new URL(u).origin === u, 'must be an origin like http://localhost:8233 (no path or trailing slash)')])))
    .optional(),
});

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

async function main(): Promise<void> {
  const read = readEnv(CodecServerEnvSchema, process.env, { showValues: true });
  if (!read.ok) throw new ConfigError(`invalid configuration: ${read.problems}`);
  const env = read.data;
  const keyring = loadCodecKeyring(loadProcessConfig());
  if (!keyring) throw new ConfigError('payload encryption is not configured: set DUO_SYNC_CODEC_KEYS (or DUO_SYNC_CODEC_KEYS_FILE) and DUO_SYNC_CODEC_ACTIVE_KEY');
  const corsOrigins = env.DUO_SYNC_CODEC_CORS_ORIGINS ?? [`http://localhost:${env.DUO_SYNC_UI_PORT}`, `http://127.0.0.1:${env.DUO_SYNC_UI_PORT}`];
  const codec = new AesGcmPayloadCodec(keyring);
  const server = await startCodecServer({ codec, port: env.DUO_SYNC_CODEC_SERVER_PORT, host: env.DUO_SYNC_CODEC_SERVER_HOST, corsOrigins });
  if (!LOOPBACK.has(env.DUO_SYNC_CODEC_SERVER_HOST)) {
    console.warn(`duo-sync codec server: WARNING listening on ${env.DUO_SYNC_CODEC_SERVER_HOST}: anyone who reaches /decode can read every payload; put authentication in front of it`);
  }
  console.log(`duo-sync codec server: ${server.url} (active key "${codec.activeKeyId}", known ${codec.keyIds.join(', ')}; CORS ${corsOrigins.join(', ')}); Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  console.log('duo-sync codec server: stopped');
}

main().catch((err: unknown) => {
  console.error(`duo-sync codec server: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
