/**
 * Shared helpers for the codec tests: fresh random AES-256 keys and key lists in the
 * DUO_SYNC_CODEC_KEYS format, and a search for a needle in raw bytes.
 */
import { randomBytes } from 'node:crypto';

export function newKey(): string {
  return randomBytes(32).toString('base64');
}

export function keyList(entries: Record<string, string>): string {
  return Object.entries(entries)
    .map(([id, key]) => `${id}:${key}`)
    .join(',');
}

export function containsBytes(haystack: Uint8Array, needle: string): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle, 'utf8'));
}
