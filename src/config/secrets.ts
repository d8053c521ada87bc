/**
 * Secret references: configuration names *where* a secret lives ({ env } or { file }), never the
 * secret itself, so connection settings can pass through workflow history safely. Resolution happens
 * only on the activity side, just before use, and only inside the worker's allow-list: whoever can
 * send `configure` chooses the reference, so the operator who runs the worker bounds what it may
 * name (environment-variable prefixes and secret directories, `DUO_SYNC_SECRET_*`).
 */
import { readFile, realpath } from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { ConfigError, readEnv } from './env';

export { SecretRefSchema, type SecretRef } from '../domain/secret-ref';
import type { SecretRef } from '../domain/secret-ref';

export class SecretResolutionError extends Error {
  override readonly name: string = 'SecretResolutionError';
}

/** A reference outside the worker's allow-list: refused before anything is read. */
export class SecretRefusedError extends SecretResolutionError {
  override readonly name = 'SecretRefusedError';
}

export function describeSecretRef(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

/** What secret references this worker resolves. */
export interface SecretPolicy {
  /** Environment variables whose names start with one of these; empty: none. */
  envPrefixes: readonly string[];
  /** Absolute directories whose files (at any depth) may be read; `{connectionId}` is replaced by the resolving connection's id. */
  dirs: readonly string[];
}

/** Placeholder in a secret directory that scopes it to one connection. */
export const CONNECTION_ID_PLACEHOLDER = '{connectionId}';

/**
 * The worker's own settings are never a connection's secret, whatever the prefixes say: a SCIM
 * bearer token that names DUO_SYNC_CODEC_KEYS would send the codec keys to the configured server.
 */
const RESERVED_ENV = /^(?:DUO_SYNC_CODEC_|DUO_SYNC_SECRET_|TEMPORAL_)/;

const ENV_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*$/;

const list = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');

export const SecretPolicyEnvSchema = z.object({
  /** Comma-separated prefixes of environment variables that secret references may name; `none` for none. */
  DUO_SYNC_SECRET_ENV_PREFIXES: z
    .string()
    .default('DUO_SYNC_')
    .transform((v, ctx) => {
      if (v.trim().toLowerCase() === 'none') return [];
      const prefixes = list(v);
      for (const p of prefixes) {
        if (!ENV_PREFIX.test(p)) ctx.addIssue({ code: 'custom', message: `"${p}" is not an environment variable prefix (letters, digits and _, not starting with a digit)` });
      }
      if (prefixes.length === 0) ctx.addIssue({ code: 'custom', message: 'list at least one prefix, or "none"' });
      return prefixes;
    }),
  /** Comma-separated absolute directories whose files secret references may name; may contain {connectionId}. */
  DUO_SYNC_SECRET_DIRS: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const dirs = v === undefined ? [] : list(v);
      for (const d of dirs) {
        if (!path.isAbsolute(d)) ctx.addIssue({ code: 'custom', message: `"${d}" must be an absolute directory` });
        else if (d.replaceAll(CONNECTION_ID_PLACEHOLDER, '').includes('{')) ctx.addIssue({ code: 'custom', message: `"${d}": the only placeholder is ${CONNECTION_ID_PLACEHOLDER}` });
      }
      return dirs.map((d) => path.resolve(d));
    }),
});

/** The allow-list from the worker's environment; a bad value is a ConfigError naming the variable. */
export function loadSecretPolicy(env: NodeJS.ProcessEnv = process.env): SecretPolicy {
  const read = readEnv(SecretPolicyEnvSchema, env, { showValues: true });
  if (!read.ok) throw new ConfigError(`invalid configuration: ${read.problems}`);
  return { envPrefixes: read.data.DUO_SYNC_SECRET_ENV_PREFIXES, dirs: read.data.DUO_SYNC_SECRET_DIRS };
}

/** The allow-list plus more prefixes or directories (for processes that configure their own connections, such as the demo). */
export function widenSecretPolicy(policy: SecretPolicy, more: { envPrefixes?: readonly string[]; dirs?: readonly string[] }): SecretPolicy {
  return { envPrefixes: [...policy.envPrefixes, ...(more.envPrefixes ?? [])], dirs: [...policy.dirs, ...(more.dirs ?? []).map((d) => path.resolve(d))] };
}

export function describeSecretPolicy(policy: SecretPolicy): string {
  const envs = policy.envPrefixes.length ? `environment variables starting with ${policy.envPrefixes.join(', ')}` : 'no environment variables';
  const files = policy.dirs.length ? `files under ${policy.dirs.join(', ')}` : 'no secret directories';
  return `${envs}; ${files}`;
}

export interface SecretScope {
  /** Default: read from the same environment (`loadSecretPolicy(env)`). */
  policy?: SecretPolicy;
  /** The connection resolving the reference, for `{connectionId}` directories. */
  connectionId?: string;
}

function refusal(ref: SecretRef, policy: SecretPolicy, why = `is outside this worker's secret allow-list (${describeSecretPolicy(policy)})`): SecretRefusedError {
  return new SecretRefusedError(
    `secret ${describeSecretRef(ref)} ${why}; name a secret inside it, or have whoever runs the worker widen DUO_SYNC_SECRET_ENV_PREFIXES or DUO_SYNC_SECRET_DIRS`,
  );
}

/** `dir`, with `{connectionId}` filled in; undefined when it needs a connection id and there is none. */
function directoryFor(dir: string, connectionId: string | undefined): string | undefined {
  if (!dir.includes(CONNECTION_ID_PLACEHOLDER)) return dir;
  return connectionId === undefined ? undefined : dir.replaceAll(CONNECTION_ID_PLACEHOLDER, connectionId);
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The real path of an allowed secret file. The written path must lie in an allowed directory (so a
 * refused reference never tells whether a file exists), and so must its real path: `..` and
 * symlinks cannot lead out.
 */
async function allowedFile(ref: { file: string }, policy: SecretPolicy, connectionId: string | undefined): Promise<string> {
  const written = path.resolve(ref.file);
  const dirs = policy.dirs.map((d) => directoryFor(d, connectionId)).filter((d): d is string => d !== undefined);
  const candidates = dirs.filter((d) => isInside(d, written));
  if (candidates.length === 0) throw refusal(ref, policy, `is outside this worker's secret allow-list (${describeSecretPolicy({ ...policy, dirs })})`);
  let real: string;
  try {
    real = await realpath(written);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SecretResolutionError(`cannot read secret from ${describeSecretRef(ref)} (${code}); check the path and its permissions`);
  }
  for (const dir of candidates) {
    const realDir = await realpath(dir).catch(() => undefined);
    if (realDir !== undefined && isInside(realDir, real)) return real;
  }
  throw refusal(ref, policy, `leads outside the secret directories (${candidates.join(', ')}) through a symlink or ..`);
}

/**
 * Reads a secret the allow-list permits; trailing newlines of secret files are dropped (editors
 * and `echo` add them). Refused references throw SecretRefusedError naming the reference and the
 * allow-list.
 */
export async function resolveSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env, scope: SecretScope = {}): Promise<string> {
  const policy = scope.policy ?? loadSecretPolicy(env);
  let value: string | undefined;
  if ('env' in ref) {
    if (RESERVED_ENV.test(ref.env)) throw refusal(ref, policy, "is one of the worker's own settings (DUO_SYNC_CODEC_*, DUO_SYNC_SECRET_*, TEMPORAL_*), never a connection's secret");
    if (!policy.envPrefixes.some((p) => ref.env.startsWith(p))) throw refusal(ref, policy);
    value = env[ref.env];
  } else {
    const file = await allowedFile(ref, policy, scope.connectionId);
    try {
      value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
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
