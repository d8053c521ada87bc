/**
 * Duo credentials from the environment for processes that talk to one Duo account (the demo, the
 * benchmark, ops tools): DUO_API_HOST, DUO_IKEY and the secret key from DUO_SKEY or DUO_SKEY_FILE.
 * The secret is resolved here, on the activity side, and never echoed in errors.
 */
import { z } from 'zod';
import { readEnv } from '../config/env';
import { resolveSecret, type SecretRef } from '../config/secrets';
import type { DuoClientOptions } from './client';
import { resolveDuoEndpoint, DuoConfigError } from './endpoint';

const DuoEnvSchema = z
  .object({
    DUO_API_HOST: z.string().min(1, 'is required (e.g. api-xxxxxxxx.duosecurity.com)'),
    DUO_IKEY: z.string().regex(/^[A-Za-z0-9]{10,40}$/, 'must be the integration key of an Admin API application (letters and digits)'),
    DUO_SKEY: z.string().min(1).optional(),
    DUO_SKEY_FILE: z.string().min(1).optional(),
    DUO_SIGNATURE_VERSION: z.enum(['2', '5']).default('5'),
  })
  .refine((e) => Boolean(e.DUO_SKEY) !== Boolean(e.DUO_SKEY_FILE), {
    message: 'set exactly one of DUO_SKEY or DUO_SKEY_FILE',
    path: ['DUO_SKEY'],
  });

/** The secret-key reference implied by the environment (for connection settings built from env). */
export function duoSecretRefFromEnv(env: NodeJS.ProcessEnv = process.env): SecretRef {
  if (env['DUO_SKEY_FILE']) return { file: env['DUO_SKEY_FILE'] };
  return { env: 'DUO_SKEY' };
}

export async function duoClientOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<DuoClientOptions> {
  // Never show values: DUO_SKEY is secret and the others are not worth the risk.
  const parsed = readEnv(DuoEnvSchema, env);
  if (!parsed.ok) throw new DuoConfigError(`invalid Duo settings: ${parsed.problems}`);
  resolveDuoEndpoint(parsed.data.DUO_API_HOST);
  const secretKey = await resolveSecret(duoSecretRefFromEnv(env), env);
  return {
    apiHost: parsed.data.DUO_API_HOST,
    integrationKey: parsed.data.DUO_IKEY,
    secretKey,
    signatureVersion: parsed.data.DUO_SIGNATURE_VERSION === '2' ? 2 : 5,
  };
}
