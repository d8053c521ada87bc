/**
 * The sandbox's four bulk endpoints: bulk user create, bulk operations, send users to Trash and
 * restore them. Duo documents the endpoints and their parameters (each a JSON-encoded list) but not
 * their answers; the sandbox answers with one Duo envelope per item, in request order, so one bad
 * item fails alone (`perItem`). `allOrNothing` models the other plausible shape: any bad item fails
 * the whole request with 400/40002 naming the item, and nothing is applied.
 */
import { z } from 'zod';
import { ApiFailure, invalidParam, missingParam, type DuoStore, type Params } from './store';

export const BulkSettingsSchema = z.object({
  /** false: the four endpoints answer 404 like an account without them. */
  enabled: z.boolean().default(true),
  /** Users per bulk_create request (Duo: 100, from a secondary source). */
  maxUsers: z.number().int().positive().default(100),
  /** Operations per bulk operations request (Duo: 50, from a secondary source). */
  maxOperations: z.number().int().positive().default(50),
  /** Ids per bulk_send_to_trash / bulk_restore request (assumed 100, like every other *_list). */
  maxUserIds: z.number().int().positive().default(100),
  failureMode: z.enum(['perItem', 'allOrNothing']).default('perItem'),
});
export type BulkSettings = z.output<typeof BulkSettingsSchema>;
export type BulkSettingsInput = z.input<typeof BulkSettingsSchema>;

export type BulkItemEnvelope = { stat: 'OK'; response: unknown } | { stat: 'FAIL'; code: number; message: string; message_detail?: string };

/** Keys a bulk_create user may carry (the official Ruby client's list). */
const BULK_CREATE_KEYS: ReadonlySet<string> = new Set(['username', 'realname', 'email', 'status', 'notes', 'firstname', 'lastname']);

/** Parses a JSON-encoded list parameter: missing → 40001; not a non-empty JSON array → 40002; too long → 40002 saying the maximum. */
function jsonList(p: Params, name: string, max: number): unknown[] {
  const raw = p.get(name);
  if (raw === undefined || raw === '') throw missingParam(name);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidParam(name);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw invalidParam(name);
  if (parsed.length > max) throw new ApiFailure(40002, 'Invalid request parameters', `${name}: at most ${max} per request, got ${parsed.length}`);
  return parsed;
}

/** A JSON object's scalar values as request parameters (null clears: ""), the way a single call receives them. */
function objectParams(value: unknown, field: string): Map<string, string> {
  if (value === undefined || value === null) return new Map();
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidParam(field);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(value)) {
    if (v === null) out.set(k, '');
    else if (typeof v === 'string') out.set(k, v);
    else if (typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
    else throw invalidParam(k);
  }
  return out;
}

function run(store: DuoStore, settings: BulkSettings, listName: string, count: number, item: (index: number) => unknown): { response: BulkItemEnvelope[] } {
  const snapshot = settings.failureMode === 'allOrNothing' ? store.exportState() : undefined;
  const results: BulkItemEnvelope[] = [];
  for (let i = 0; i < count; i++) {
    try {
      results.push({ stat: 'OK', response: item(i) });
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err;
      if (snapshot !== undefined) {
        store.importState(snapshot);
        // Always 400: a 404 or 500 for the whole request would read as "no such endpoint" or an outage.
        throw new ApiFailure(40002, 'Invalid request parameters', `${listName}[${i}]: ${err.message} (${err.code}${err.detail === undefined ? '' : `, ${err.detail}`})`);
      }
      results.push({ stat: 'FAIL', code: err.code, message: err.message, ...(err.detail === undefined ? {} : { message_detail: err.detail }) });
    }
  }
  return { response: results };
}

export function bulkCreateUsers(store: DuoStore, p: Params, settings: BulkSettings): { response: BulkItemEnvelope[] } {
  const users = jsonList(p, 'users', settings.maxUsers);
  return run(store, settings, 'users', users.length, (i) => {
    const params = objectParams(users[i], 'users');
    for (const key of params.keys()) if (!BULK_CREATE_KEYS.has(key)) throw invalidParam(key);
    return store.userJson(store.createUser(params));
  });
}

const USER_PATH = /^\/admin\/v1\/users\/([^/]+)$/;
const USER_GROUPS_PATH = /^\/admin\/v1\/users\/([^/]+)\/groups$/;
const USER_GROUP_PATH = /^\/admin\/v1\/users\/([^/]+)\/groups\/([^/]+)$/;

/**
 * One operation of POST /admin/v1/bulk: create, modify or delete a user, add a user to a group or
 * remove them. Removal is accepted as DELETE (the single call's method) and as POST (what the official
 * Ruby client documents).
 */
function operation(store: DuoStore, value: unknown): unknown {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalidParam('operations');
  const op = value as Record<string, unknown>;
  const method = typeof op['method'] === 'string' ? op['method'].toUpperCase() : undefined;
  const path = typeof op['path'] === 'string' ? op['path'] : undefined;
  if (method === undefined) throw missingParam('method');
  if (path === undefined) throw missingParam('path');
  const body = objectParams(op['body'], 'body');
  const id = (m: RegExpExecArray, i: number): string => decodeURIComponent(m[i] ?? '');
  let m: RegExpExecArray | null;
  if (method === 'POST' && path === '/admin/v1/users') return store.userJson(store.createUser(body));
  if ((m = USER_PATH.exec(path))) {
    if (method === 'POST') return store.userJson(store.modifyUser(id(m, 1), body));
    if (method === 'DELETE') return (store.deleteUser(id(m, 1)), '');
  }
  if (method === 'POST' && (m = USER_GROUPS_PATH.exec(path))) return (store.addUserToGroup(id(m, 1), body.get('group_id')), '');
  if ((method === 'DELETE' || method === 'POST') && (m = USER_GROUP_PATH.exec(path))) return (store.removeUserFromGroup(id(m, 1), id(m, 2)), '');
  throw new ApiFailure(40002, 'Invalid request parameters', `unsupported operation ${method} ${path}`);
}

export function bulkOperations(store: DuoStore, p: Params, settings: BulkSettings): { response: BulkItemEnvelope[] } {
  const ops = jsonList(p, 'operations', settings.maxOperations);
  return run(store, settings, 'operations', ops.length, (i) => operation(store, ops[i]));
}

function userIds(p: Params, settings: BulkSettings): string[] {
  const ids = jsonList(p, 'user_id_list', settings.maxUserIds);
  if (!ids.every((v): v is string => typeof v === 'string')) throw invalidParam('user_id_list');
  return ids;
}

export function bulkSendToTrash(store: DuoStore, p: Params, settings: BulkSettings): { response: BulkItemEnvelope[] } {
  const ids = userIds(p, settings);
  return run(store, settings, 'user_id_list', ids.length, (i) => store.userJson(store.sendToTrash(ids[i] ?? '')));
}

export function bulkRestore(store: DuoStore, p: Params, settings: BulkSettings): { response: BulkItemEnvelope[] } {
  const ids = userIds(p, settings);
  return run(store, settings, 'user_id_list', ids.length, (i) => store.userJson(store.restoreFromTrash(ids[i] ?? '')));
}
