/**
 * Turns the validated process configuration into the payload-encryption setup: reads the key list
 * from DUO_SYNC_CODEC_KEYS or DUO_SYNC_CODEC_KEYS_FILE, validates it (one ConfigError line, never any
 * key material), and builds the DataConverter that the worker and the client share. Without codec
 * variables the result is `undefined` and payloads stay plain JSON, as before.
 */
import { readFileSync } from 'node:fs';
import type { DataConverter } from '@temporalio/common';
import { z } from 'zod';
import { ConfigError, PortSchema, readEnv, type ProcessConfig } from '../config/env';
import { AesGcmPayloadCodec } from './aes-gcm';
import { parseKeyring, type CodecKeyring } from './keys';

/** The keyring the environment configures, or `undefined` when payload encryption is off. */
export function loadCodecKeyring(config: ProcessConfig): CodecKeyring | undefined {
  const active = config.DUO_SYNC_CODEC_ACTIVE_KEY;
  if (!active) return undefined;
  let source = 'DUO_SYNC_CODEC_KEYS';
  let text = config.DUO_SYNC_CODEC_KEYS;
  if (config.DUO_SYNC_CODEC_KEYS_FILE) {
    source = `DUO_SYNC_CODEC_KEYS_FILE (${config.DUO_SYNC_CODEC_KEYS_FILE})`;
    try {
      text = readFileSync(config.DUO_SYNC_CODEC_KEYS_FILE, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError(`invalid configuration: ${source}: cannot read the file (${code})`);
    }
  }
  if (text === undefined) throw new ConfigError('invalid configuration: DUO_SYNC_CODEC_ACTIVE_KEY needs DUO_SYNC_CODEC_KEYS or DUO_SYNC_CODEC_KEYS_FILE');
  const parsed = parseKeyring(text, active);
  if (!parsed.ok) throw new ConfigError(`invalid configuration: ${source}: ${parsed.problems.join('; ')}`);
  return parsed.keyring;
}

/** Path of the module whose `failureConverter` puts failure messages and stack traces into (encrypted) payloads. */
export const ENCRYPTING_FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/**
 * The DataConverter for a keyring: the AES-GCM codec for every payload, and the failure converter
 * that moves failure messages and stack traces (which can name users) into a payload so the codec
 * encrypts them too. Workers must also bundle their workflows with `failureConverterPath`.
 */
export function codecDataConverter(keyring: CodecKeyring): DataConverter {
  return { payloadCodecs: [new AesGcmPayloadCodec(keyring)], failureConverterPath: ENCRYPTING_FAILURE_CONVERTER_PATH };
}

/** `codecDataConverter` for the environment's keyring, or `undefined` when payload encryption is off. */
export function dataConverterFromConfig(config: ProcessConfig): DataConverter | undefined {
  const keyring = loadCodecKeyring(config);
  return keyring ? codecDataConverter(keyring) : undefined;
}

// ---- codec server (src/codec/main.ts) ---------------------------------------------------------

/** Shortest bearer token the codec server accepts: it guards every payload. */
export const MIN_CODEC_TOKEN_LENGTH = 16;

const NULL_ORIGIN_MESSAGE =
  'the "null" origin is refused: browsers send it from sandboxed iframes, file:// pages and some redirects, so any page could claim it; list the UI\'s real origin (e.g. http://localhost:8233)';

const CodecServerEnvSchema = z
  .object({
    DUO_SYNC_CODEC_SERVER_HOST: z.string().min(1).default('127.0.0.1'),
    DUO_SYNC_CODEC_SERVER_PORT: PortSchema.default(8888),
    DUO_SYNC_UI_PORT: PortSchema.default(8233),
    DUO_SYNC_CODEC_CORS_ORIGINS: z
      .string()
      .transform((v) => v.split(',').map((o) => o.trim()).filter((o) => o.length > 0))
      .superRefine((origins, ctx) => {
        for (const o of origins) {
          if (o.toLowerCase() === 'null') ctx.addIssue({ code: 'custom', message: NULL_ORIGIN_MESSAGE });
          else if (o !== '*' && !isOrigin(o)) ctx.addIssue({ code: 'custom', message: `"${o}" must be an origin like http://localhost:8233 (http or https, no path or trailing slash), or *` });
        }
      })
      .optional(),
    /** Bearer token callers must send; or DUO_SYNC_CODEC_SERVER_TOKEN_FILE, a file holding it. */
    DUO_SYNC_CODEC_SERVER_TOKEN: z.string().min(MIN_CODEC_TOKEN_LENGTH, `must be at least ${MIN_CODEC_TOKEN_LENGTH} characters (e.g. openssl rand -base64 32)`).optional(),
    DUO_SYNC_CODEC_SERVER_TOKEN_FILE: z.string().min(1).optional(),
  })
  .superRefine((env, ctx) => {
    if (env.DUO_SYNC_CODEC_SERVER_TOKEN && env.DUO_SYNC_CODEC_SERVER_TOKEN_FILE) {
      ctx.addIssue({ code: 'custom', path: ['DUO_SYNC_CODEC_SERVER_TOKEN_FILE'], message: 'set DUO_SYNC_CODEC_SERVER_TOKEN or DUO_SYNC_CODEC_SERVER_TOKEN_FILE, not both' });
    }
  });

function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

export interface CodecServerSettings {
  host: string;
  port: number;
  corsOrigins: string[];
  /** Callers must send `Authorization: Bearer <token>`; absent: no token is checked. */
  bearerToken: string | undefined;
}

/** The codec server's settings from its environment; a bad value is one ConfigError line that never shows the token. */
export function loadCodecServerSettings(env: NodeJS.ProcessEnv): CodecServerSettings {
  const read = readEnv(CodecServerEnvSchema, env, { showValues: true });
  if (!read.ok) throw new ConfigError(`invalid configuration: ${read.problems}`);
  const s = read.data;
  let bearerToken = s.DUO_SYNC_CODEC_SERVER_TOKEN;
  if (s.DUO_SYNC_CODEC_SERVER_TOKEN_FILE) {
    const source = `DUO_SYNC_CODEC_SERVER_TOKEN_FILE (${s.DUO_SYNC_CODEC_SERVER_TOKEN_FILE})`;
    try {
      bearerToken = readFileSync(s.DUO_SYNC_CODEC_SERVER_TOKEN_FILE, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError(`invalid configuration: ${source}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    if (bearerToken.length < MIN_CODEC_TOKEN_LENGTH) throw new ConfigError(`invalid configuration: ${source}: the token must be at least ${MIN_CODEC_TOKEN_LENGTH} characters`);
  }
  return {
    host: s.DUO_SYNC_CODEC_SERVER_HOST,
    port: s.DUO_SYNC_CODEC_SERVER_PORT,
    corsOrigins: s.DUO_SYNC_CODEC_CORS_ORIGINS ?? [`http://localhost:${s.DUO_SYNC_UI_PORT}`, `http://127.0.0.1:${s.DUO_SYNC_UI_PORT}`],
    bearerToken,
  };
}
