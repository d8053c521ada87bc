/**
 * Scope and filter handling on the adapter side: a rule selects store users by group membership,
 * by a structured attribute filter, or all of them (the schema and reference evaluator live in
 * src/domain/scope.ts). Filters are JSON, never a store's own query syntax, and are translated here
 * with each adapter's escaping: RFC 4515 for LDAP, RFC 7644 §3.4.2.2 quoting for SCIM. No I/O.
 */
import { StoreError } from './errors';

// One scope/filter language for rules and adapters: defined in the domain, used here as is.
import { ATTRIBUTE_NAME_PATTERN, ScopeSchema, type Filter, type FilterOp, type Scope } from '../domain/scope';
export {
  ATTRIBUTE_NAME_PATTERN,
  AttributeNameSchema,
  FILTER_OPS,
  FilterSchema,
  matchesFilter,
  ScopeSchema,
  type AttributeLookup,
  type Filter,
  type FilterOp,
  type Scope,
} from '../domain/scope';

export const ALL_USERS: Scope = { kind: 'all' };

/** Adapters re-check the scope they are handed: it is a trust boundary like any other input. */
export function parseScope(scope: unknown): Scope {
  const r = ScopeSchema.safeParse(scope);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new StoreError('invalid_request', `invalid scope at ${issue?.path.join('.') || 'top level'}: ${issue?.message ?? 'invalid'}`);
}

/** Empty comparison values mean "absent": `eq ""` → not present, `ne ""` and substrings of "" → present. */
function emptyValueForm(op: FilterOp): 'absent' | 'present' | null {
  if (op === 'present') return null;
  return op === 'eq' ? 'absent' : 'present';
}

/** Calls `fn` for each comparison in a filter tree (for adapters that check attribute names). */
export function forEachComparison(filter: Filter, fn: (c: { attr: string; op: FilterOp; value?: string }) => void): void {
  if ('and' in filter) filter.and.forEach((f) => forEachComparison(f, fn));
  else if ('or' in filter) filter.or.forEach((f) => forEachComparison(f, fn));
  else if ('not' in filter) forEachComparison(filter.not, fn);
  else fn(filter);
}

// ---------------------------------------------------------------------------------------------
// LDAP (RFC 4515)

/**
 * Escapes an assertion value for an LDAP string filter (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL
 * become `\2a`, `\28`, `\29`, `\5c`, `\00`; other control characters are escaped too for
 * readability in logs. Non-ASCII text stays UTF-8, which the RFC allows (and ldapts expects).
 */
export function escapeLdapFilterValue(value: string): string {
  return value.replace(/[*()\\\u0000-\u001f\u007f]/g, (ch) => '\\' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
}

/** LDAP attribute descriptions are stricter than the generic grammar: no `.`, `_` or URN. */
const LDAP_ATTRIBUTE = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

export function isLdapAttributeName(name: string): boolean {
  return LDAP_ATTRIBUTE.test(name);
}

/**
 * Translates a filter to an RFC 4515 string. `mapAttr` maps logical names (e.g. `username`) to
 * the directory's attributes; unknown names pass through and must satisfy the LDAP grammar.
 */
export function toLdapFilter(filter: Filter, mapAttr: (attr: string) => string = (a) => a): string {
  if ('and' in filter) return `(&${filter.and.map((f) => toLdapFilter(f, mapAttr)).join('')})`;
  if ('or' in filter) return `(|${filter.or.map((f) => toLdapFilter(f, mapAttr)).join('')})`;
  if ('not' in filter) return `(!${toLdapFilter(filter.not, mapAttr)})`;
  const attr = mapAttr(filter.attr);
  if (!isLdapAttributeName(attr)) {
    throw new FilterTranslationError(`attribute "${filter.attr}" is not a valid LDAP attribute name (letters, digits and "-" only)`);
  }
  if (!filter.value) {
    const form = emptyValueForm(filter.op);
    if (form === 'absent') return `(!(${attr}=*))`;
    return `(${attr}=*)`;
  }
  const v = escapeLdapFilterValue(filter.value);
  switch (filter.op) {
    case 'present':
      return `(${attr}=*)`;
    case 'eq':
      return `(${attr}=${v})`;
    case 'ne':
      return `(!(${attr}=${v}))`;
    case 'startsWith':
      return `(${attr}=${v}*)`;
    case 'endsWith':
      return `(${attr}=*${v})`;
    case 'contains':
      return `(${attr}=*${v}*)`;
  }
}

// ---------------------------------------------------------------------------------------------
// SCIM (RFC 7644 §3.4.2.2)

/** A SCIM filter compValue string: a JSON string literal, so `"` and `\` are escaped, never closed. */
export function quoteScimValue(value: string): string {
  return JSON.stringify(value);
}

/**
 * Only nested and/or groups get parentheses: `a and not (b)` rather than `(a) and (not (b))`,
 * which is equivalent per the RFC but trips real parsers (SCIMMY among them).
 */
export function toScimFilter(filter: Filter, mapAttr: (attr: string) => string = (a) => a): string {
  // A one-member and/or is just its member: `(a) and (b)` with a lone `(b)` is dropped by SCIMMY.
  if ('and' in filter && filter.and.length === 1) return toScimFilter(filter.and[0]!, mapAttr);
  if ('or' in filter && filter.or.length === 1) return toScimFilter(filter.or[0]!, mapAttr);
  const compound = (f: Filter): boolean => ('and' in f && f.and.length > 1) || ('or' in f && f.or.length > 1);
  const operand = (f: Filter): string => (compound(f) ? `(${toScimFilter(f, mapAttr)})` : toScimFilter(f, mapAttr));
  if ('and' in filter) return filter.and.map(operand).join(' and ');
  if ('or' in filter) return filter.or.map(operand).join(' or ');
  if ('not' in filter) return `not (${toScimFilter(filter.not, mapAttr)})`;
  const attr = mapAttr(filter.attr);
  if (!ATTRIBUTE_NAME_PATTERN.test(attr)) {
    throw new FilterTranslationError(`attribute "${filter.attr}" is not a valid SCIM attribute path`);
  }
  if (!filter.value) {
    const form = emptyValueForm(filter.op);
    if (form === 'absent') return `not (${attr} pr)`;
    return `${attr} pr`;
  }
  const v = quoteScimValue(filter.value);
  switch (filter.op) {
    case 'present':
      return `${attr} pr`;
    case 'eq':
      return `${attr} eq ${v}`;
    // `not (a eq v)` rather than `a ne v`: servers disagree on `ne` for absent attributes.
    case 'ne':
      return `not (${attr} eq ${v})`;
    case 'startsWith':
      return `${attr} sw ${v}`;
    case 'endsWith':
      return `${attr} ew ${v}`;
    case 'contains':
      return `${attr} co ${v}`;
  }
}

export class FilterTranslationError extends Error {
  override readonly name = 'FilterTranslationError';
}
