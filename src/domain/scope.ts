/**
 * Rule scope: which store users a rule covers (all, members of some groups, or an attribute
 * filter), as the one JSON-friendly schema that rules are validated with and that every store
 * adapter accepts, plus the reference evaluator. Adapters push a scope down to the store (an LDAP
 * or SCIM filter, see src/stores/filter.ts) and must match `matchesFilter`'s semantics; the file
 * store evaluates it directly. Pure module: zod only.
 */
import { z } from 'zod';
import { readSource, type StoreUser } from './mapping';

/**
 * Attribute names: a letter, then letters, digits, `-` or `_`; optionally one `.sub` part (SCIM
 * `name.givenName`) and an optional SCIM schema URN prefix. Nothing else can reach a query string.
 */
export const ATTRIBUTE_NAME_PATTERN =
  /^(?:urn:[A-Za-z0-9][A-Za-z0-9.:-]{0,200}:)?[A-Za-z][A-Za-z0-9_-]{0,127}(?:\.[A-Za-z][A-Za-z0-9_-]{0,127})?$/;

export const AttributeNameSchema = z
  .string()
  .regex(ATTRIBUTE_NAME_PATTERN, 'must be an attribute name: a letter, then letters, digits, "-" or "_" (optionally "parent.sub")');

export const FILTER_OPS = ['eq', 'ne', 'present', 'startsWith', 'endsWith', 'contains'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export type Filter =
  | { attr: string; op: FilterOp; value?: string }
  | { and: Filter[] }
  | { or: Filter[] }
  | { not: Filter };

const MAX_FILTER_VALUE = 1024;

const ComparisonSchema = z
  .object({
    attr: AttributeNameSchema,
    op: z.enum(FILTER_OPS),
    /** Empty counts as absent: `eq ""` means "not present". */
    value: z.string().max(MAX_FILTER_VALUE).optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.op === 'present' && f.value !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `remove value: op "present" takes none (attribute ${f.attr})` });
    }
    if (f.op !== 'present' && f.value === undefined) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: `op "${f.op}" needs a value (attribute ${f.attr})` });
    }
  });

const FilterNodeSchema: z.ZodType<Filter> = z.lazy(() =>
  z.union(
    [
      ComparisonSchema,
      z.object({ and: z.array(FilterNodeSchema).min(1, 'list at least one filter').max(100) }).strict(),
      z.object({ or: z.array(FilterNodeSchema).min(1, 'list at least one filter').max(100) }).strict(),
      z.object({ not: FilterNodeSchema }).strict(),
    ],
    { error: 'expected {attr, op, value?}, {and: [...]}, {or: [...]} or {not: {...}}' },
  ),
);

/**
 * Bounds on one filter, so every activity that evaluates or translates it does bounded work: the
 * translators and evaluators recurse, and a filter thousands of levels deep overflowed the stack
 * in every activity (which Temporal retried as if it were transient).
 */
export const MAX_FILTER_DEPTH = 16;
/** Comparisons plus and/or/not nodes. */
export const MAX_FILTER_NODES = 200;

/** Depth and node count of an unvalidated filter, walked without recursion and abandoned once past either bound. */
function measureFilter(raw: unknown): { depth: number; nodes: number } {
  const pending: { node: unknown; depth: number }[] = [{ node: raw, depth: 1 }];
  let depth = 0;
  let nodes = 0;
  while (pending.length > 0 && depth <= MAX_FILTER_DEPTH && nodes <= MAX_FILTER_NODES) {
    const { node, depth: at } = pending.pop()!;
    nodes += 1;
    depth = Math.max(depth, at);
    if (node === null || typeof node !== 'object') continue;
    const children = Object.hasOwn(node, 'and') ? (node as { and: unknown }).and : Object.hasOwn(node, 'or') ? (node as { or: unknown }).or : Object.hasOwn(node, 'not') ? [(node as { not: unknown }).not] : [];
    if (!Array.isArray(children)) continue;
    for (const child of children.slice(0, MAX_FILTER_NODES + 1)) pending.push({ node: child, depth: at + 1 });
  }
  return { depth, nodes };
}

/** A filter within MAX_FILTER_DEPTH and MAX_FILTER_NODES; the bounds are checked before the recursive schema runs. */
export const FilterSchema: z.ZodType<Filter> = z
  .unknown()
  .superRefine((raw, ctx) => {
    const { depth, nodes } = measureFilter(raw);
    if (depth > MAX_FILTER_DEPTH) {
      ctx.addIssue({ code: 'custom', message: `the filter is nested more than ${MAX_FILTER_DEPTH} levels deep; flatten it (merge nested and/or lists, drop double not)`, abort: true });
    } else if (nodes > MAX_FILTER_NODES) {
      ctx.addIssue({ code: 'custom', message: `the filter has more than ${MAX_FILTER_NODES} conditions (counting and/or/not); split the rule or scope it by group`, abort: true });
    }
  })
  .pipe(FilterNodeSchema);

export const ScopeSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('all') }).strict(),
    /** Users who are direct members of any of these groups (by group name or externalId). */
    z.object({ kind: z.literal('groups'), groups: z.array(z.string().trim().min(1).max(512)).min(1, 'list at least one group').max(100) }).strict(),
    z.object({ kind: z.literal('filter'), filter: FilterSchema }).strict(),
  ],
  { error: 'expected one of all|groups|filter' },
);
export type Scope = z.infer<typeof ScopeSchema>;

/** A user's values for an attribute name; undefined when it has none. */
export type AttributeLookup = (attr: string) => string | string[] | undefined;

/**
 * The reference semantics: comparisons ignore case (like LDAP's and SCIM's defaults for names and
 * mail addresses); a multi-valued attribute matches if any value does; empty strings count as
 * absent, and an empty comparison value means "absent" for `eq` and "present" for the others.
 */
export function matchesFilter(filter: Filter, lookup: AttributeLookup): boolean {
  if ('and' in filter) return filter.and.every((f) => matchesFilter(f, lookup));
  if ('or' in filter) return filter.or.some((f) => matchesFilter(f, lookup));
  if ('not' in filter) return !matchesFilter(filter.not, lookup);
  const raw = lookup(filter.attr);
  const values = (raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]).filter((v) => v !== '').map((v) => v.toLowerCase());
  const want = (filter.value ?? '').toLowerCase();
  if (want === '' && filter.op !== 'present') return filter.op === 'eq' ? values.length === 0 : values.length > 0;
  switch (filter.op) {
    case 'present':
      return values.length > 0;
    case 'eq':
      return values.includes(want);
    case 'ne':
      return !values.includes(want);
    case 'startsWith':
      return values.some((v) => v.startsWith(want));
    case 'endsWith':
      return values.some((v) => v.endsWith(want));
    case 'contains':
      return values.some((v) => v.includes(want));
  }
}

/**
 * Values a filter attribute has for a user: built-in fields by their store names (username, email,
 * givenName, familyName, displayName, externalId, enabled as "true"/"false", phones, groupIds),
 * otherwise `attributes[attr]`. Empty strings count as absent.
 */
function valuesOf(user: StoreUser, attr: string): string[] {
  let values: string[];
  if (attr === 'phones') values = user.phones;
  else if (attr === 'groupIds') values = user.groupIds;
  else if (Object.hasOwn(user.attributes, attr)) {
    const v = user.attributes[attr];
    values = Array.isArray(v) ? v : v === undefined ? [] : [v];
  } else {
    const v = readSource(user, attr);
    values = v === undefined ? [] : [v];
  }
  return values.filter((v) => v !== '');
}

/** `matchesFilter` over a normalised store user (built-in fields by name, then `attributes`). */
export function matchesUser(filter: Filter, user: StoreUser): boolean {
  return matchesFilter(filter, (attr) => valuesOf(user, attr));
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
      return matchesUser(scope.filter, user);
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
