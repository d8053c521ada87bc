/**
 * Secret references for workflow-side code: the same shape as `SecretRefSchema` in
 * src/config/secrets.ts, redefined here because that module reads files (node:fs) and workflow
 * code may not import it. Configuration names *where* a secret lives, never the secret itself, so a
 * connection's settings can pass through workflow history safely. Keep both schemas identical.
 */
import { z } from 'zod';

export const SecretRefSchema = z.union([
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') }).strict(),
  z.object({ file: z.string().min(1, 'must be a file path') }).strict(),
]);
export type SecretRef = z.infer<typeof SecretRefSchema>;
