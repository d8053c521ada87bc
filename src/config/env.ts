/**
 * Process configuration for the worker and the client, read from the environment through one zod
 * schema. Values are validated eagerly so a bad deployment fails at start with one clear line,
 * and nothing secret (TLS keys, API keys) is ever echoed back in an error or a log.
 */
import { z } from 'zod';
import { KEY_ID_PATTERN, parseKeyring } from '../codec/keys';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. localhost:7233')
  .refine((v) => {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    return port > 0 && port < 65536;
  }, 'port must be between 1 and 65535');

const optionalPath = z.string().min(1).optional();

/** A TCP port from an environment variable. */
export const PortSchema = z.coerce.number({ error: 'must be a port number (1-65535)' }).int('must be a port number (1-65535)').min(1, 'must be a port number (1-65535)').max(65535, 'must be a port number (1-65535)');

export const EnvSchema = z
  .object({
    TEMPORAL_ADDRESS: hostPort.default('localhost:7233'),
    TEMPORAL_NAMESPACE: z.string().regex(/^[A-Za-z0-9._-]{1,255}$/, 'must be a Temporal namespace name').default('default'),
    TEMPORAL_TASK_QUEUE: z.string().regex(/^[A-Za-z0-9._/-]{1,200}$/, 'must be a task queue name').default('duo-sync'),
    TEMPORAL_TLS_CERT: optionalPath,
    TEMPORAL_TLS_KEY: optionalPath,
    TEMPORAL_TLS_CA: optionalPath,
    TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
    TEMPORAL_API_KEY: z.string().min(1).optional(),
    DUO_SYNC_LOG_LEVEL: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
    /** Who the CLI and client calls act for in the audit trail (default `<os user>@<host>`). */
    DUO_SYNC_ACTOR: z.string().trim().min(1).max(200).optional(),
    /** Worker: append every audit entry as a JSON line to this file (docs/operations.md). */
    DUO_SYNC_AUDIT_FILE: z.string().min(1).optional(),
    /** Worker: serve duo-sync's Prometheus metrics on this port (`/metrics`); unset: no metrics endpoint. */
    DUO_SYNC_METRICS_PORT: PortSchema.optional(),
    /** Worker: serve the Temporal SDK's own Prometheus metrics on this port (the SDK's exporter binds its own). */
    DUO_SYNC_TEMPORAL_METRICS_PORT: PortSchema.optional(),
    /** Address both metrics endpoints bind (default 127.0.0.1; 0.0.0.0 in a container scraped from outside). */
    DUO_SYNC_METRICS_HOST: z.string().regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'must be an IP address to bind, e.g. 0.0.0.0 or 127.0.0.1').default('127.0.0.1'),
    /** Worker: how long a resolved Duo secret key is trusted before its reference is read again. */
    DUO_SYNC_SECRET_TTL_SECONDS: z.coerce.number({ error: 'must be a number of seconds' }).int().min(0).max(86_400).default(30),
    /** OpenTelemetry tracing: OTLP/HTTP endpoint (e.g. http://otel-collector:4318); unset: tracing off. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://otel-collector:4318' }).optional(),
    OTEL_SERVICE_NAME: z.string().min(1).default('duo-sync-worker'),
    /** Payload encryption (src/codec, docs/codec.md): `keyId:base64key[,...]`, or a file with that content. */
    DUO_SYNC_CODEC_KEYS: z.string().min(1).optional(),
    DUO_SYNC_CODEC_KEYS_FILE: optionalPath,
    DUO_SYNC_CODEC_ACTIVE_KEY: z.string().regex(KEY_ID_PATTERN, 'must be a key id (1-32 characters of A-Z a-z 0-9 . _ -)').optional(),
  })
  .superRefine((env, ctx) => {
    if (Boolean(env.TEMPORAL_TLS_CERT) !== Boolean(env.TEMPORAL_TLS_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.TEMPORAL_TLS_CERT ? 'TEMPORAL_TLS_KEY' : 'TEMPORAL_TLS_CERT'],
        message: 'mTLS needs both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY',
      });
    }
    if (env.DUO_SYNC_CODEC_KEYS && env.DUO_SYNC_CODEC_KEYS_FILE) {
      ctx.addIssue({ code: 'custom', path: ['DUO_SYNC_CODEC_KEYS_FILE'], message: 'set DUO_SYNC_CODEC_KEYS or DUO_SYNC_CODEC_KEYS_FILE, not both' });
    }
    const hasKeys = Boolean(env.DUO_SYNC_CODEC_KEYS || env.DUO_SYNC_CODEC_KEYS_FILE);
    if (hasKeys && !env.DUO_SYNC_CODEC_ACTIVE_KEY) {
      ctx.addIssue({ code: 'custom', path: ['DUO_SYNC_CODEC_ACTIVE_KEY'], message: 'required with DUO_SYNC_CODEC_KEYS or DUO_SYNC_CODEC_KEYS_FILE: the key id that encrypts new payloads' });
    }
    if (!hasKeys && env.DUO_SYNC_CODEC_ACTIVE_KEY) {
      ctx.addIssue({ code: 'custom', path: ['DUO_SYNC_CODEC_ACTIVE_KEY'], message: 'needs DUO_SYNC_CODEC_KEYS or DUO_SYNC_CODEC_KEYS_FILE' });
    }
    if (env.DUO_SYNC_CODEC_KEYS && env.DUO_SYNC_CODEC_ACTIVE_KEY) {
      const keyring = parseKeyring(env.DUO_SYNC_CODEC_KEYS, env.DUO_SYNC_CODEC_ACTIVE_KEY);
      if (!keyring.ok) ctx.addIssue({ code: 'custom', path: ['DUO_SYNC_CODEC_KEYS'], message: keyring.problems.join('; ') });
    }
  });

export type ProcessConfig = z.infer<typeof EnvSchema>;

/** Variables whose values must never appear in messages. */
const SECRET_VARS = new Set(['TEMPORAL_API_KEY', 'TEMPORAL_TLS_KEY', 'DUO_SYNC_CODEC_KEYS', 'DUO_SYNC_CODEC_SERVER_TOKEN']);


export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the variables a schema names (empty counts as unset) and parses them. On failure returns
 * one readable line per problem, `NAME="value": message`; values are shown only when `showValues`
 * is on and the variable is not secret.
 */
export function readEnv<S extends z.ZodObject>(
  schema: S,
  env: NodeJS.ProcessEnv,
  options: { showValues?: boolean } = {},
): { ok: true; data: z.output<S> } | { ok: false; problems: string } {
  const relevant: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) relevant[key] = env[key] === '' ? undefined : env[key];
  const parsed = schema.safeParse(relevant);
  if (parsed.success) return { ok: true, data: parsed.data };
  const lines = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? 'environment');
    const shown = !options.showValues || SECRET_VARS.has(name) || relevant[name] === undefined ? '' : `=${JSON.stringify(relevant[name])}`;
    return `${name}${shown}: ${issue.message}`;
  });
  return { ok: false, problems: lines.join('; ') };
}

/** Parses the environment; on failure throws a ConfigError whose message is one line per problem. */
export function loadProcessConfig(env: NodeJS.ProcessEnv = process.env): ProcessConfig {
  const read = readEnv(EnvSchema, env, { showValues: true });
  if (read.ok) return read.data;
  throw new ConfigError(`invalid configuration: ${read.problems}`);
}

/** A safe one-line description for start-up logs (no secrets, no key material). */
export function describeProcessConfig(cfg: ProcessConfig): string {
  const tls = cfg.TEMPORAL_TLS_CERT ? 'mTLS' : cfg.TEMPORAL_TLS_CA ? 'TLS' : cfg.TEMPORAL_API_KEY ? 'TLS+API key' : 'plaintext';
  const payloads = cfg.DUO_SYNC_CODEC_ACTIVE_KEY ? ` payloads=aes-256-gcm(active key "${cfg.DUO_SYNC_CODEC_ACTIVE_KEY}")` : '';
  return `temporal=${cfg.TEMPORAL_ADDRESS} namespace=${cfg.TEMPORAL_NAMESPACE} taskQueue=${cfg.TEMPORAL_TASK_QUEUE} transport=${tls}${payloads}`;
}
