/**
 * The audit sink: every audit entry of every connection, appended as one JSON line to the file
 * named by DUO_SYNC_AUDIT_FILE (none: entries stay only in the entity, which keeps the last 200).
 * A retried write may append an entry twice; `connectionId` + `seq` identify it.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { AuditEntrySchema, type AuditEntry } from '../contract';

export interface AuditSinkOptions {
  /** Absolute or relative path of the JSON-lines file; undefined: no file. */
  auditFile?: string;
  /** Counts written entries (src/metrics). */
  onWritten?: (connectionId: string, entries: number) => void;
}

export function createAuditActivities(options: AuditSinkOptions = {}) {
  return {
    async writeAudit(input: { connectionId: string; entries: AuditEntry[] }): Promise<{ written: number; file: string | null }> {
      if (!options.auditFile) return { written: 0, file: null };
      const entries = input.entries.map((e) => AuditEntrySchema.parse(e));
      const lines = entries.map((e) => `${JSON.stringify(e)}\n`).join('');
      try {
        await mkdir(dirname(options.auditFile), { recursive: true });
        // One append per batch: the lines of a batch are never interleaved with another worker's.
        await appendFile(options.auditFile, lines, { encoding: 'utf8', mode: 0o640 });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
        const message = `cannot append to the audit file ${options.auditFile} (DUO_SYNC_AUDIT_FILE): ${code}; check that the worker may write there`;
        if (code === 'EACCES' || code === 'EROFS' || code === 'EISDIR' || code === 'ENOTDIR') throw ApplicationFailure.nonRetryable(message, 'AuditSinkUnavailable');
        throw ApplicationFailure.retryable(message, 'AuditSinkUnavailable');
      }
      options.onWritten?.(input.connectionId, entries.length);
      return { written: entries.length, file: options.auditFile };
    },
  };
}
