/**
 * Secret references: configuration names *where* a secret lives (`{env}` or `{file}`), never the
 * secret itself, so a connection's settings can pass through workflow history safely. Only
 * src/config/secrets.ts resolves them, on the activity side, within the worker's allow-list.
 */
import { z } from 'zod';

export const SecretRefSchema = z.union([
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') }).strict(),
  z.object({ file: z.string().min(1, 'must be a file path') }).strict(),
]);
export type SecretRef = z.infer<typeof SecretRefSchema>;
