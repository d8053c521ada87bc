/**
 * Secret references: configuration names *where* a secret lives ({ env } or { file }), never the
 * secret itself, so connection settings can pass through workflow history safely. Resolution happens
 * only on the activity side, just before use.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

export const SecretRefSchema = z.union([
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') }).strict(),
  z.object({ file: z.string().min(1, 'must be a file path') }).strict(),
]);
export type SecretRef = z.infer<typeof SecretRefSchema>;

export class SecretResolutionError extends Error {
  override readonly name = 'SecretResolutionError';
}

export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

/** Reads a secret; trailing newlines of secret files are dropped (editors and `echo` add them). */
export async function resolveSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let value: string | undefined;
  if ('env' in ref) {
    value = env[ref.env];
  } else {
    try {
      value = (await readFile(ref.file, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
      throw new SecretResolutionError(`cannot read secret from ${describeSecretRef(ref)} (${code}); check the path and its permissions`);
    }
  }
  if (value === undefined || value === '') {
    throw new SecretResolutionError(`secret ${describeSecretRef(ref)} is not set or empty; set it before starting the worker`);
  }
  return value;
}
