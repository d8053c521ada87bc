/**
 * Duo's request-rate categories: Duo limits Admin API requests per category, each on its own
 * bucket. The client paces per category and the sandbox limits per category, so both classify a
 * request with this one function. Duo documents the categories' names but not which endpoint falls
 * in which; the mapping below is our decision (docs/duo.md, "Rate limits").
 */

export const DUO_RATE_CATEGORIES = ['modify', 'getObject', 'getPage', 'getAll', 'logs', 'bulk'] as const;
export type DuoRateCategory = (typeof DUO_RATE_CATEGORIES)[number];

/**
 * Default limits in requests per minute, as Duo staff gave them (may differ per account today); the
 * bulk number comes from a secondary source. Each category is limited on its own.
 */
export const DUO_KNOWN_LIMITS_PER_MINUTE: Readonly<Record<DuoRateCategory, number>> = {
  modify: 300,
  getObject: 300,
  getPage: 200,
  getAll: 40,
  logs: 2,
  bulk: 50,
};

/** The four bulk endpoints, which share the `bulk` category. */
export const DUO_BULK_PATHS: ReadonlySet<string> = new Set([
  '/admin/v1/users/bulk_create',
  '/admin/v1/bulk',
  '/admin/v1/users/bulk_send_to_trash',
  '/admin/v1/users/bulk_restore',
]);

/** Last path segments that name a collection: a GET there lists objects, anything else gets one object. */
const COLLECTIONS: ReadonlySet<string> = new Set([
  'users',
  'groups',
  'phones',
  'admins',
  'tokens',
  'u2ftokens',
  'webauthncredentials',
  'desktop_authenticators',
  'desktopauthenticators',
  'bypass_codes',
  'integrations',
  'policies',
  'administrative_units',
  'endpoints',
  'registered_devices',
  'trust_monitor',
]);

/** Parameters that turn a list into a lookup, answered as one small page. */
const LOOKUP_PARAMS: ReadonlySet<string> = new Set(['username', 'email', 'username_list', 'user_id_list', 'group_id_list', 'admin_id_list', 'number', 'serial', 'type']);

/**
 * The category of one request:
 * - `logs`: anything under `/admin/v1/logs` or `/admin/v2/logs`;
 * - `bulk`: the four bulk endpoints;
 * - `modify`: every other POST/PUT/PATCH/DELETE (create, update, delete, associate);
 * - `getObject`: a GET of one object by id (and other single-object reads such as `/admin/v1/info/summary`);
 * - `getPage`: a GET of a collection with `limit`/`offset`, or a lookup by `username`, `username_list`,
 *   `user_id_list`, `email`, `group_id_list`, phone `number`, …;
 * - `getAll`: a GET of a collection with neither paging nor lookup parameters (Duo's old "return
 *   everything" form; duo-sync never sends it).
 */
export function classifyDuoRequest(method: string, path: string, paramNames: Iterable<string>): DuoRateCategory {
  if (/^\/admin\/v\d+\/logs(\/|$)/.test(path)) return 'logs';
  if (DUO_BULK_PATHS.has(path)) return 'bulk';
  if (method.toUpperCase() !== 'GET') return 'modify';
  const last = path.split('/').filter(Boolean).pop() ?? '';
  if (!COLLECTIONS.has(last)) return 'getObject';
  let paged = false;
  for (const name of paramNames) {
    if (LOOKUP_PARAMS.has(name) || name === 'limit' || name === 'offset') paged = true;
  }
  return paged ? 'getPage' : 'getAll';
}
