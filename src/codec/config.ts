/**
 * Turns the validated process configuration into the payload-encryption setup: reads the key list
 * from DUO_SYNC_CODEC_KEYS or DUO_SYNC_CODEC_KEYS_FILE, validates it (one ConfigError line, never any
 * key material), and builds the DataConverter that the worker and the client share. Without codec
 * variables the result is `undefined` and payloads stay plain JSON, as before.
 */
import { readFileSync } from 'node:fs';
import type { DataConverter } from '@temporalio/common';
import { ConfigError, type ProcessConfig } from '../config/env';
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
