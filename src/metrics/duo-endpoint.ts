/**
 * A Duo request path as a bounded metrics label: ids become `{id}`, so
 * `/admin/v1/users/DU123/groups/DG456` is `/admin/v1/users/{id}/groups/{id}`. Path segments after
 * `/admin/vN/` alternate collection and id; the words Duo uses in an id's place (bulk endpoints,
 * `info/summary`) stay.
 */
const LITERALS = new Set(['bulk_create', 'bulk_send_to_trash', 'bulk_restore', 'summary', 'authentication', 'telephony', 'activity', 'bulk']);

export function duoEndpointTemplate(path: string): string {
  const segments = path.split('?')[0]?.split('/') ?? [];
  // ['', 'admin', 'v1', 'users', '<id>', 'groups', '<id>']: ids sit at even indexes from 4.
  return segments.map((segment, i) => (i >= 4 && i % 2 === 0 && segment !== '' && !LITERALS.has(segment) ? '{id}' : segment)).join('/');
}
