/**
 * Streaming index of a JSON directory file `{ "users": [...], "groups": [...] }`, so the file store
 * holds byte ranges instead of a parsed directory: memory stays a few bytes per user however large
 * the file is, and a page reads just its users back with positioned reads. The scan walks the file
 * in fixed-size chunks and only tracks JSON structure (depth, strings, escapes); each user element
 * is parsed on its own, validated, and dropped. Multi-byte UTF-8 sequences never contain ASCII
 * bytes, so scanning bytes for `"`, `\`, brackets and commas is safe.
 */
import type { FileHandle } from 'node:fs/promises';

const CHUNK_BYTES = 1 << 20;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Where one `users` element is in the file. */
export interface JsonSpan {
  start: number;
  length: number;
}

export interface JsonDirectoryScan {
  /** Byte ranges of the `users` array's elements, in file order. */
  users: JsonSpan[];
  /** Parsed value of every other top-level member (e.g. `groups`), by key. */
  others: Map<string, unknown>;
}

export class JsonScanError extends Error {}

/**
 * Scans the whole file once. `onUser(text, index)` sees each element of `users` as it ends (for
 * validation); it may throw to stop the scan. Other top-level values are small (groups) and parsed.
 */
export async function scanJsonDirectory(fh: FileHandle, onUser: (text: string, index: number) => void): Promise<JsonDirectoryScan> {
  const users: JsonSpan[] = [];
  const others = new Map<string, unknown>();
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);

  let depth = 0;
  let inString = false;
  let escaped = false;
  let seenRoot = false;
  let rootClosed = false;
  /** Top-level object state: expecting a key, a colon, a value, or a comma. */
  let expect: 'key' | 'colon' | 'value' | 'comma' = 'key';
  let key: number[] | null = null;
  let currentKey = '';
  let inUsers = false;
  let valueStart = -1;
  let valueParts: Buffer[] = [];
  let elementStart = -1;
  let elementParts: Buffer[] = [];

  const fail = (offset: number, why: string): never => {
    throw new JsonScanError(`${why} at byte ${offset}`);
  };
  const finishElement = (end: number): void => {
    const text = Buffer.concat(elementParts).toString('utf8').trimEnd();
    onUser(text, users.length);
    users.push({ start: elementStart, length: end - elementStart });
    elementStart = -1;
    elementParts = [];
  };
  const finishValue = (): void => {
    const text = Buffer.concat(valueParts).toString('utf8');
    try {
      others.set(currentKey, JSON.parse(text));
    } catch (err) {
      fail(valueStart, `the value of "${currentKey}" is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    valueStart = -1;
    valueParts = [];
  };

  let position = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK_BYTES, position);
    if (bytesRead === 0) break;
    const chunk = buf.subarray(0, bytesRead);
    // Slices of `chunk` kept for the element or value being read start here.
    let keepFrom = 0;
    for (let i = 0; i < bytesRead; i++) {
      const b = chunk[i] as number;
      const at = position + i;
      if (inString) {
        if (key && depth === 1) key.push(b);
        if (escaped) escaped = false;
        else if (b === BACKSLASH) escaped = true;
        else if (b === QUOTE) {
          inString = false;
          if (key && depth === 1) {
            key.pop();
            currentKey = Buffer.from(key).toString('utf8');
            key = null;
            expect = 'colon';
          }
        }
        continue;
      }
      if (isSpace(b)) continue;
      if (!seenRoot) {
        if (i === 0 && position === 0 && b === 0xef) {
          i += 2; // UTF-8 byte-order mark
          continue;
        }
        if (b !== OPEN_OBJECT) fail(at, 'expected the file to start with an object `{ "users": [...] }`');
        seenRoot = true;
        depth = 1;
        continue;
      }
      if (rootClosed) fail(at, 'unexpected content after the top-level object');

      if (depth === 1) {
        if (expect === 'key') {
          if (b === CLOSE_OBJECT && valueStart < 0) {
            depth = 0;
            rootClosed = true;
            continue;
          }
          if (b !== QUOTE) fail(at, 'expected a member name');
          inString = true;
          key = [];
          continue;
        }
        if (expect === 'colon') {
          if (b !== COLON) fail(at, 'expected ":"');
          expect = 'value';
          continue;
        }
        if (expect === 'comma') {
          if (b === COMMA) {
            expect = 'key';
            continue;
          }
          if (b === CLOSE_OBJECT) {
            depth = 0;
            rootClosed = true;
            continue;
          }
          fail(at, 'expected "," or "}"');
        }
        // expect === 'value': the first byte of a top-level member's value.
        if (currentKey !== 'users' && currentKey !== 'groups') fail(at, `unrecognized member "${currentKey}" (a directory file has "users" and "groups")`);
        if (b !== OPEN_ARRAY) fail(at, `"${currentKey}" must be an array`);
        depth = 2;
        expect = 'comma';
        if (currentKey === 'users') {
          inUsers = true;
        } else {
          valueStart = at;
          keepFrom = i;
        }
        continue;
      }

      if (inUsers && depth === 2) {
        if (b === CLOSE_ARRAY) {
          if (elementStart >= 0) {
            elementParts.push(chunk.subarray(keepFrom, i));
            finishElement(at);
          }
          inUsers = false;
          depth = 1;
          continue;
        }
        if (b === COMMA) {
          if (elementStart < 0) fail(at, 'empty element in "users"');
          elementParts.push(chunk.subarray(keepFrom, i));
          finishElement(at);
          continue;
        }
        if (elementStart < 0) {
          elementStart = at;
          keepFrom = i;
        }
      }
      if (b === QUOTE) inString = true;
      else if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth += 1;
      else if (b === CLOSE_OBJECT || b === CLOSE_ARRAY) {
        depth -= 1;
        if (depth === 1 && valueStart >= 0) {
          valueParts.push(chunk.subarray(keepFrom, i + 1));
          keepFrom = i + 1;
          finishValue();
        }
      }
    }
    // Carry the unfinished element or value over to the next chunk (copied: `buf` is reused).
    if (elementStart >= 0) elementParts.push(Buffer.from(chunk.subarray(keepFrom)));
    else if (valueStart >= 0 && depth >= 2) valueParts.push(Buffer.from(chunk.subarray(keepFrom)));
    position += bytesRead;
  }
  if (!seenRoot) return { users, others };
  if (!rootClosed || inString) fail(position, 'the file ends before the top-level object is closed');
  return { users, others };
}

/** Reads back the text of some spans with positioned reads (one per span). */
export async function readSpans(fh: FileHandle, spans: readonly JsonSpan[]): Promise<string[]> {
  return Promise.all(
    spans.map(async (span) => {
      const out = Buffer.allocUnsafe(span.length);
      const { bytesRead } = await fh.read(out, 0, span.length, span.start);
      return out.subarray(0, bytesRead).toString('utf8');
    }),
  );
}
