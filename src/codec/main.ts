/**
 * Runs the codec server for the Temporal Web UI / CLI:
 *   node -r ts-node/register/transpile-only src/codec/main.ts
 * Keys come from DUO_SYNC_CODEC_KEYS (or DUO_SYNC_CODEC_KEYS_FILE) and DUO_SYNC_CODEC_ACTIVE_KEY, as
 * for the worker. DUO_SYNC_CODEC_SERVER_HOST (127.0.0.1), DUO_SYNC_CODEC_SERVER_PORT (8888) and
 * DUO_SYNC_CODEC_CORS_ORIGINS (comma-separated; default the dev server's UI on DUO_SYNC_UI_PORT or
 * 8233) place it; DUO_SYNC_CODEC_SERVER_TOKEN or DUO_SYNC_CODEC_SERVER_TOKEN_FILE makes callers send
 * `Authorization: Bearer <token>`. Then start the UI with `--ui-codec-endpoint http://127.0.0.1:8888`. See docs/codec.md.
 */
import { ConfigError, loadProcessConfig } from '../config/env';
import { AesGcmPayloadCodec } from './aes-gcm';
import { loadCodecKeyring, loadCodecServerSettings } from './config';
import { startCodecServer } from './server';

async function main(): Promise<void> {
  const settings = loadCodecServerSettings(process.env);
  const keyring = loadCodecKeyring(loadProcessConfig());
  if (!keyring) throw new ConfigError('payload encryption is not configured: set DUO_SYNC_CODEC_KEYS (or DUO_SYNC_CODEC_KEYS_FILE) and DUO_SYNC_CODEC_ACTIVE_KEY');
  const codec = new AesGcmPayloadCodec(keyring);
  const server = await startCodecServer({ codec, port: settings.port, host: settings.host, corsOrigins: settings.corsOrigins, ...(settings.bearerToken ? { bearerToken: settings.bearerToken } : {}) });
  const auth = settings.bearerToken ? 'bearer token required' : 'no authentication';
  console.log(`duo-sync codec server: ${server.url} (active key "${codec.activeKeyId}", known ${codec.keyIds.join(', ')}; CORS ${settings.corsOrigins.join(', ')}; ${auth}); Ctrl-C to stop`);
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
