/**
 * What changed between two configurations, for the audit trail: field paths with old and new
 * values. Objects are compared key by key and lists of objects with an `id` (rules, webhooks) item
 * by item (`rules[staff].scope.kind`), so an entry says exactly what moved. A secret reference
 * (`{"env": …}` / `{"file": …}`) is recorded by path only.
 */
import type { AuditChange } from '../../contract/operations';

export const MAX_AUDIT_CHANGES = 50;
const MAX_VALUE_CHARS = 300;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{env}` or `{file}` and nothing else: the shape of a secret reference. */
export function isSecretRef(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'env' || keys[0] === 'file') && typeof value[keys[0]] === 'string';
}

function isIdList(value: unknown): value is Array<{ id: string }> {
  return Array.isArray(value) && value.length > 0 && value.every((v) => isPlainObject(v) && typeof v['id'] === 'string');
}

/** Long values are shortened so one entry stays small in the entity's carried state. */
function shown(value: unknown): Json | undefined {
  if (value === undefined) return undefined;
  const text = JSON.stringify(value);
  if (text.length <= MAX_VALUE_CHARS) return JSON.parse(text) as Json;
  return `${text.slice(0, MAX_VALUE_CHARS - 1)}…`;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function walk(path: string, before: unknown, after: unknown, out: AuditChange[]): void {
  if (same(before, after)) return;
  if (isSecretRef(before) || isSecretRef(after)) {
    out.push({ path, secret: true });
    return;
  }
  const beforeObject = isPlainObject(before) || before === undefined;
  const afterObject = isPlainObject(after) || after === undefined;
  if (beforeObject && afterObject && (isPlainObject(before) || isPlainObject(after))) {
    const b = (before ?? {}) as Record<string, unknown>;
    const a = (after ?? {}) as Record<string, unknown>;
    for (const key of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) walk(join(path, key), b[key], a[key], out);
    return;
  }
  const listOfIds = (v: unknown) => v === undefined || (Array.isArray(v) && v.length === 0) || isIdList(v);
  if (listOfIds(before) && listOfIds(after) && (isIdList(before) || isIdList(after))) {
    const b = new Map(((before ?? []) as Array<{ id: string }>).map((item) => [item.id, item]));
    const a = new Map(((after ?? []) as Array<{ id: string }>).map((item) => [item.id, item]));
    for (const id of [...new Set([...b.keys(), ...a.keys()])]) walk(`${path}[${id}]`, b.get(id), a.get(id), out);
    return;
  }
  const change: AuditChange = { path: path === '' ? '(root)' : path };
  const from = shown(before);
  const to = shown(after);
  if (from !== undefined) change.from = from;
  if (to !== undefined) change.to = to;
  out.push(change);
}

/** The changed fields from `before` to `after` (either may be undefined), at most MAX_AUDIT_CHANGES, and how many were left out. */
export function auditDiff(before: unknown, after: unknown, prefix = ''): { changes: AuditChange[]; omitted: number } {
  const all: AuditChange[] = [];
  walk(prefix, before, after, all);
  return { changes: all.slice(0, MAX_AUDIT_CHANGES), omitted: Math.max(0, all.length - MAX_AUDIT_CHANGES) };
}
