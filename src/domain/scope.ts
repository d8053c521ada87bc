/**
 * Rule scope: which store users a rule covers (all, members of some groups, or an attribute
 * filter), as a JSON-friendly schema plus a pure evaluator. Store adapters may push a scope down
 * to the store (e.g. an LDAP filter); `isInScope` is the reference semantics they must match.
 */
import { z } from 'zod';
import { ATTRIBUTE_NAME_RE, readSource, type StoreUser } from './mapping';

export const FILTER_OPS = ['eq', 'ne', 'present', 'startsWith', 'endsWith', 'contains'] as const;

export type Filter =
  | { attr: string; op: (typeof FILTER_OPS)[number]; value?: string }
  | { and: Filter[] }
  | { or: Filter[] }
  | { not: Filter };

const ComparisonSchema = z
  .object({
    attr: z.string().regex(ATTRIBUTE_NAME_RE, 'must be an attribute name (a letter, then letters, digits, . _ or -; at most 64)'),
    op: z.enum(FILTER_OPS),
    value: z.string().max(1024).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.op === 'present' && f.value !== undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: 'remove value: op "present" takes none' });
    if (f.op !== 'present' && f.value === undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: `op "${f.op}" needs a value` });
  });

export const FilterSchema: z.ZodType<Filter> = z.lazy(() =>
  z.union(
    [
      ComparisonSchema,
      z.object({ and: z.array(FilterSchema).min(1, 'list at least one filter') }).strict(),
      z.object({ or: z.array(FilterSchema).min(1, 'list at least one filter') }).strict(),
      z.object({ not: FilterSchema }).strict(),
    ],
    { error: 'expected {attr, op, value?}, {and: [...]}, {or: [...]} or {not: {...}}' },
  ),
);

export const ScopeSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('all') }).strict(),
    z.object({ kind: z.literal('groups'), groups: z.array(z.string().trim().min(1)).min(1, 'list at least one group') }).strict(),
    z.object({ kind: z.literal('filter'), filter: FilterSchema }).strict(),
  ],
  { error: 'expected one of all|groups|filter' },
);
export type Scope = z.infer<typeof ScopeSchema>;

/**
 * Values a filter attribute has for a user: built-in fields by their store names (username, email,
 * givenName, familyName, displayName, externalId, enabled as "true"/"false", phones, groupIds),
 * otherwise `attributes[attr]`. Empty strings count as absent.
 */
function valuesOf(user: StoreUser, attr: string): string[] {
  let values: string[];
  if (attr === 'phones') values = user.phones;
  else if (attr === 'groupIds') values = user.groupIds;
  else if (attr in user.attributes) {
    const v = user.attributes[attr];
    values = Array.isArray(v) ? v : v === undefined ? [] : [v];
  } else {
    const v = readSource(user, attr);
    values = v === undefined ? [] : [v];
  }
  return values.filter((v) => v !== '');
}

/** Comparisons are case-insensitive (as directory attributes usually are); multi-valued attributes match if any value does. */
export function matchesFilter(filter: Filter, user: StoreUser): boolean {
  if ('and' in filter) return filter.and.every((f) => matchesFilter(f, user));
  if ('or' in filter) return filter.or.some((f) => matchesFilter(f, user));
  if ('not' in filter) return !matchesFilter(filter.not, user);
  const values = valuesOf(user, filter.attr).map((v) => v.toLowerCase());
  const wanted = (filter.value ?? '').toLowerCase();
  switch (filter.op) {
    case 'present':
      return values.length > 0;
    case 'eq':
      return values.includes(wanted);
    case 'ne':
      return !values.includes(wanted);
    case 'startsWith':
      return values.some((v) => v.startsWith(wanted));
    case 'endsWith':
      return values.some((v) => v.endsWith(wanted));
    case 'contains':
      return values.some((v) => v.includes(wanted));
  }
}

/**
 * Whether a rule covers a user. Group scopes list store group names or ids; the user carries ids
 * only, so names are resolved through `groupIdsByName` (lower-cased name → id), which the caller
 * builds from the store. Ids and names compare case-insensitively.
 */
export function isInScope(scope: Scope, user: StoreUser, groupIdsByName: ReadonlyMap<string, string> = new Map()): boolean {
  switch (scope.kind) {
    case 'all':
      return true;
    case 'filter':
      return matchesFilter(scope.filter, user);
    case 'groups': {
      const userGroups = new Set(user.groupIds.map((g) => g.toLowerCase()));
      return scope.groups.some((g) => {
        const key = g.toLowerCase();
        const id = groupIdsByName.get(key);
        return userGroups.has(key) || (id !== undefined && userGroups.has(id.toLowerCase()));
      });
    }
  }
}
