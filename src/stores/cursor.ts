/**
 * Opaque page cursors: base64url JSON naming the adapter, a fingerprint of the query it belongs to,
 * and a position. They carry no secrets and no directory data, so workflows may keep them in
 * history. A cursor from another query or adapter is rejected instead of silently mis-paging.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { StoreError } from './errors';
import { DEFAULT_PAGE_SIZE, MAX_LOOKUP_BATCH, MAX_PAGE_SIZE, type PageRequest } from './types';

const CursorSchema = z.object({
  k: z.string(),
  q: z.string(),
  p: z.record(z.string(), z.union([z.string(), z.number()])),
});

export type CursorPosition = Record<string, string | number>;

export function queryFingerprint(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 16);
}

export function encodeCursor(kind: string, query: string, position: CursorPosition): string {
  return Buffer.from(JSON.stringify({ k: kind, q: query, p: position }), 'utf8').toString('base64url');
}

/** Returns the position stored in a cursor, or null for a first-page request. */
export function decodeCursor(kind: string, query: string, cursor: string | null | undefined): CursorPosition | null {
  if (cursor === undefined || cursor === null || cursor === '') return null;
  let parsed: z.infer<typeof CursorSchema>;
  try {
    parsed = CursorSchema.parse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
  } catch {
    throw new StoreError('invalid_request', 'page cursor is malformed; start again from the first page (no cursor)');
  }
  if (parsed.k !== kind || parsed.q !== query) {
    throw new StoreError('invalid_request', `page cursor belongs to a different ${parsed.k === kind ? 'query' : 'store'}; start again from the first page`);
  }
  return parsed.p;
}

/** Refuses a batch lookup larger than every adapter accepts. */
export function assertLookupBatch(usernames: readonly string[]): void {
  if (usernames.length > MAX_LOOKUP_BATCH) {
    throw new StoreError('invalid_request', `lookup of ${usernames.length} usernames exceeds the batch limit of ${MAX_LOOKUP_BATCH}`);
  }
}

export function pageSizeOf(page: PageRequest | undefined): number {
  const size = page?.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new StoreError('invalid_request', `page size ${size} is out of range; use an integer from 1 to ${MAX_PAGE_SIZE}`);
  }
  return size;
}
