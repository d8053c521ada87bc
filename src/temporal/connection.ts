/**
 * Turns the validated process configuration into Temporal connection options (plaintext, TLS,
 * mTLS or API key). Shared by the worker (NativeConnection) and clients (Connection).
 */
import { readFile } from 'node:fs/promises';
import type { ProcessConfig } from '../config/env';
import { ConfigError } from '../config/env';

export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
  apiKey?: string;
}

async function readTlsFile(variable: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`invalid configuration: ${variable}=${JSON.stringify(path)}: cannot read file (${code})`);
  }
}

export async function temporalConnectionOptions(cfg: ProcessConfig): Promise<TemporalConnectionOptions> {
  const options: TemporalConnectionOptions = { address: cfg.TEMPORAL_ADDRESS };
  const wantsTls = Boolean(cfg.TEMPORAL_TLS_CERT || cfg.TEMPORAL_TLS_CA || cfg.TEMPORAL_API_KEY || cfg.TEMPORAL_TLS_SERVER_NAME);
  if (wantsTls) {
    options.tls = {};
    if (cfg.TEMPORAL_TLS_SERVER_NAME) options.tls.serverNameOverride = cfg.TEMPORAL_TLS_SERVER_NAME;
    if (cfg.TEMPORAL_TLS_CA) options.tls.serverRootCACertificate = await readTlsFile('TEMPORAL_TLS_CA', cfg.TEMPORAL_TLS_CA);
    if (cfg.TEMPORAL_TLS_CERT && cfg.TEMPORAL_TLS_KEY) {
      options.tls.clientCertPair = {
        crt: await readTlsFile('TEMPORAL_TLS_CERT', cfg.TEMPORAL_TLS_CERT),
        key: await readTlsFile('TEMPORAL_TLS_KEY', cfg.TEMPORAL_TLS_KEY),
      };
    }
  }
  if (cfg.TEMPORAL_API_KEY) options.apiKey = cfg.TEMPORAL_API_KEY;
  return options;
}
