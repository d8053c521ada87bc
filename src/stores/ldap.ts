/**
 * LDAP identity store (OpenLDAP, Active Directory) on ldapts. Reads page with the simple paged
 * results control (RFC 2696); writes use add/modify/delete with RFC 4514 DN escaping; every
 * filter value goes through RFC 4515 escaping. Directory-specific conventions (attribute names,
 * disabled accounts, memberOf vs member) come from configuration, seeded by a preset.
 *
 * Paging: OpenLDAP and AD tie a paged-results cookie to one connection, and allow one paged search
 * per connection. So each paging run gets its own connection, kept open between calls in a small
 * session table, and the cursor names the session plus how many entries were handed out. If a
 * cursor comes back to a worker that lost the session (restart, another worker, idle timeout), the
 * search restarts and skips that many entries: the same page, at the cost of re-reading.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { Attribute, Change, Client, DN, FilterParser, ResultCodeError, type Entry, type SearchResult } from 'ldapts';
import { z } from 'zod';
import { describeSecretRef, type SecretRef } from '../config/secrets';
import { LDAP_PRESETS, type LdapAttributeMap, type LdapDisabledConvention, type LdapStoreConfig } from '../domain/store-config';
import { assertLookupBatch, decodeCursor, encodeCursor, pageSizeOf, queryFingerprint, type CursorPosition } from './cursor';
import { StoreError, causeText, isNetworkError } from './errors';
import { ALL_USERS, escapeLdapFilterValue, parseScope, FilterTranslationError, forEachComparison, isLdapAttributeName, toLdapFilter, type Scope } from './filter';
import {
  NewUserSchema,
  UserPatchSchema,
  type IdentityStore,
  type NewUser,
  type InvalidEntry,
  type Page,
  type PageRequest,
  type StoreCapabilities,
  type StoreGroup,
  type StoreUser,
  type UserPatch,
} from './types';

export type SecretResolver = (ref: SecretRef) => Promise<string>;

/** What ldapts hands back, checked before use: a DN plus string/binary attribute values. */
const LdapEntrySchema = z
  .object({ dn: z.string() })
  .catchall(z.union([z.string(), z.array(z.string()), z.instanceof(Buffer), z.array(z.instanceof(Buffer))]));

/** Attributes never copied into `StoreUser.attributes`: password hashes and the like. */
const SECRET_ATTRIBUTE = /(password|pwd|secret|krb|ntlm|lmhash)/i;
const BINARY_ATTRIBUTES = ['objectGUID', 'objectSid', 'jpegPhoto', 'thumbnailPhoto', 'userCertificate'];
const UAC_DISABLED = 0x2;
const LOOKUP_CHUNK = 200;
const MAX_SESSIONS = 32;
const SESSION_IDLE_MS = 5 * 60_000;

/** One normalised entry: attribute names lower-cased, values as strings. */
interface LdapRecord {
  dn: string;
  attrs: Map<string, { name: string; values: string[] }>;
}

interface PagedSession {
  id: string;
  query: string;
  client: Client;
  pages: AsyncGenerator<SearchResult>;
  buffer: Entry[];
  handedOut: number;
  done: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface PagedQuery {
  fingerprint: string;
  base: string;
  filter: string;
  attributes: string[];
}

export class LdapStore implements IdentityStore {
  readonly kind = 'ldap' as const;
  readonly location: string;
  readonly capabilities: StoreCapabilities;
  private readonly host: string;
  private readonly attrs: LdapAttributeMap;
  private readonly userFilter: string;
  private readonly groupFilter: string;
  private readonly disabled: LdapDisabledConvention;
  private readonly objectClasses: string[];
  private readonly rdnAttribute: string;
  private readonly usersDn: string;
  private readonly groupsDn: string;
  private shared: Promise<Client> | undefined;
  private readonly sessions = new Map<string, PagedSession>();
  /** Group DN (normalised) → group externalId, or null when the DN is not an in-scope group. */
  private readonly groupIdByDn = new Map<string, string | null>();
  private closed = false;

  constructor(
    private readonly config: LdapStoreConfig,
    private readonly resolveSecret: SecretResolver,
  ) {
    const preset = LDAP_PRESETS[config.preset];
    this.attrs = { ...preset.attributes, ...stripUndefined(config.attributes ?? {}) };
    this.userFilter = config.userFilter ?? preset.userFilter;
    this.groupFilter = config.groupFilter ?? preset.groupFilter;
    this.disabled = config.disabled ?? preset.disabled;
    this.objectClasses = config.userObjectClasses ?? preset.userObjectClasses;
    this.rdnAttribute = config.rdnAttribute ?? preset.rdnAttribute;
    this.usersDn = config.usersDn;
    this.groupsDn = config.groupsDn;
    this.host = config.url.replace(/\/$/, '');
    this.location = `LDAP ${this.host}`;
    for (const f of [this.userFilter, this.groupFilter]) {
      try {
        FilterParser.parseString(f);
      } catch (err) {
        throw new StoreError('invalid_config', `LDAP filter ${f} in the store configuration does not parse (${causeText(err)})`);
      }
    }
    this.capabilities = { write: !config.readOnly, disable: !config.readOnly && this.disabled.kind !== 'none' };
  }

  assertWritable(): void {
    if (!this.capabilities.write) {
      throw new StoreError('read_only', `${this.location} is configured readOnly; set readOnly: false (and grant the bind DN write access) to use it for inbound rules`);
    }
  }

  async check(): Promise<void> {
    await this.run('read users', (c) => c.search(this.usersDn, { scope: 'sub', filter: this.userFilter, sizeLimit: 1, attributes: ['1.1'] }).catch((err: unknown) => {
      // A size-limit hit on a 1-entry probe means the read worked.
      if (err instanceof ResultCodeError && err.code === 4) return undefined;
      throw err;
    }));
  }

  // ---- reads ---------------------------------------------------------------------------------

  async listUsers(requested: Scope, page?: PageRequest): Promise<Page<StoreUser>> {
    const scope = parseScope(requested);
    const size = pageSizeOf(page);
    if (scope.kind === 'groups' && this.config.membership === 'member') {
      return this.listMembersByMemberAttribute(scope.groups, page?.cursor, size);
    }
    const filter = `(&${this.userFilter}${await this.scopeFilter(scope)})`;
    const query: PagedQuery = {
      fingerprint: queryFingerprint(['users', scope]),
      base: this.usersDn,
      filter,
      attributes: this.userAttributes(),
    };
    const { entries, next } = await this.pagedSearch(query, page?.cursor, size);
    return withInvalid(await this.readUsers(entries), next);
  }

  async listGroups(page?: PageRequest): Promise<Page<StoreGroup>> {
    const size = pageSizeOf(page);
    const query: PagedQuery = {
      fingerprint: queryFingerprint(['groups']),
      base: this.groupsDn,
      filter: this.groupFilter,
      // memberOf is operational: asked for by name, it tells which groups contain this group (nested groups).
      attributes: [this.attrs.externalId, this.attrs.groupName, this.attrs.groupDescription, ...(this.config.membership === 'memberOf' ? [this.attrs.memberOf] : [])],
    };
    const { entries, next } = await this.pagedSearch(query, page?.cursor, size);
    const records = entries.map(normalise);
    const parents = await this.groupIdsFor(records);
    return {
      items: records.map((r, i) => {
        const group = this.toGroup(r);
        const groupIds = parents[i] ?? [];
        return groupIds.length ? { ...group, groupIds } : group;
      }),
      nextCursor: next,
    };
  }

  async listGroupMembers(groupExternalId: string, page?: PageRequest): Promise<Page<StoreUser>> {
    return this.listUsers({ kind: 'groups', groups: [groupExternalId] }, page);
  }

  async lookupUsers(usernames: readonly string[], requested: Scope = ALL_USERS): Promise<StoreUser[]> {
    return this.lookupBy(this.attrs.username, usernames, requested, escapeLdapFilterValue);
  }

  async lookupUsersByExternalId(externalIds: readonly string[], requested: Scope = ALL_USERS): Promise<StoreUser[]> {
    // objectGUID is binary: the filter names its bytes, in the order formatGuid reads them.
    const binary = this.attrs.externalId.toLowerCase() === 'objectguid';
    const ids = binary ? externalIds.filter((id) => GUID_RE.test(id)) : externalIds;
    return this.lookupBy(this.attrs.externalId, ids, requested, binary ? guidFilterValue : escapeLdapFilterValue);
  }

  private async lookupBy(attr: string, keys: readonly string[], requested: Scope, escape: (value: string) => string): Promise<StoreUser[]> {
    const scope = parseScope(requested);
    assertLookupBatch(keys);
    const usernames = keys;
    if (usernames.length === 0) return [];
    let scoped: Set<string> | null = null;
    let scopePart = '';
    if (scope.kind === 'groups' && this.config.membership === 'member') {
      scoped = new Set((await this.memberDnsOf(scope.groups)).map(normaliseDn));
    } else {
      scopePart = await this.scopeFilter(scope);
    }
    const out: StoreUser[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < usernames.length; i += LOOKUP_CHUNK) {
      const chunk = usernames.slice(i, i + LOOKUP_CHUNK);
      const names = chunk.map((u) => `(${attr}=${escape(u)})`).join('');
      const filter = `(&${this.userFilter}${scopePart}(|${names}))`;
      const res = await this.run(`look up ${chunk.length} users`, (c) =>
        c.search(this.usersDn, { scope: 'sub', filter, attributes: this.userAttributes(), explicitBufferAttributes: BINARY_ATTRIBUTES }),
      );
      const entries = res.searchEntries.filter((e) => {
        if (scoped && !scoped.has(normaliseDn(e.dn))) return false;
        if (seen.has(e.dn)) return false;
        seen.add(e.dn);
        return true;
      });
      out.push(...(await this.toUsers(entries)));
    }
    return out;
  }

  async getUser(username: string): Promise<StoreUser | null> {
    const entry = await this.findUserEntry(username);
    if (!entry) return null;
    const [user] = await this.toUsers([entry]);
    return user ?? null;
  }

  // ---- writes --------------------------------------------------------------------------------

  async createUser(input: NewUser): Promise<StoreUser> {
    this.assertWritable();
    const user = NewUserSchema.parse(input);
    if (await this.findUserEntry(user.username)) {
      throw new StoreError('conflict', `user ${user.username} already exists in ${this.location}`);
    }
    const a = this.attrs;
    const values: Record<string, string[]> = { objectClass: this.objectClasses };
    const set = (attr: string, v: string | string[] | undefined): void => {
      if (v === undefined) return;
      const list = Array.isArray(v) ? v : [v];
      if (list.length > 0) values[this.checkedAttr(attr)] = list;
    };
    set(a.username, user.username);
    set(a.email, user.email);
    set(a.phones[0]!, user.phones);
    set(a.givenName, user.givenName);
    set(a.familyName, user.familyName);
    set(a.displayName, user.displayName);
    for (const [k, v] of Object.entries(user.attributes ?? {})) set(k, v);
    // person/inetOrgPerson require cn and sn; derive them rather than fail on a minimal inbound user.
    if (this.objectClasses.some((c) => /person$/i.test(c))) {
      const full = [user.givenName, user.familyName].filter(Boolean).join(' ');
      values.cn ??= [user.displayName ?? (full || user.username)];
      if (this.config.preset === 'openldap') values.sn ??= [user.familyName ?? user.username];
    }
    values[this.rdnAttribute] ??= [user.username];
    if (user.enabled === false) {
      if (!this.capabilities.disable) throw this.noDisableConvention(user.username);
      Object.assign(values, this.disabledValuesOnCreate());
    } else if (this.disabled.kind === 'userAccountControl') {
      values.userAccountControl = ['512'];
    }
    const rdnValue = values[this.rdnAttribute]![0]!;
    const dn = `${new DN({ [this.rdnAttribute]: rdnValue }).toString()},${this.usersDn}`;
    await this.run(`create user ${user.username}`, (c) => c.add(dn, values));
    return this.mustGet(user.username);
  }

  async updateUser(username: string, patch: UserPatch): Promise<StoreUser> {
    this.assertWritable();
    const p = UserPatchSchema.parse(patch);
    const entry = await this.findUserEntry(username);
    if (!entry) throw new StoreError('not_found', `user ${username} not found in ${this.location}`);
    const rec = normalise(entry);
    const changes: Change[] = [];
    const a = this.attrs;
    const apply = (attr: string, v: string | string[] | null | undefined): void => {
      if (v === undefined) return;
      const name = this.checkedAttr(attr);
      const list = v === null ? [] : Array.isArray(v) ? v : [v];
      if (list.length === 0) {
        // Deleting an absent attribute is an LDAP error; clearing it is already done.
        if (rec.attrs.has(name.toLowerCase())) changes.push(new Change({ operation: 'delete', modification: new Attribute({ type: name, values: [] }) }));
      } else {
        changes.push(new Change({ operation: 'replace', modification: new Attribute({ type: name, values: list }) }));
      }
    };
    apply(a.email, p.email);
    apply(a.givenName, p.givenName);
    apply(a.familyName, p.familyName);
    apply(a.displayName, p.displayName);
    if (p.phones !== undefined) {
      apply(a.phones[0]!, p.phones);
      for (const other of a.phones.slice(1)) apply(other, null);
    }
    for (const [k, v] of Object.entries(p.attributes ?? {})) apply(k, v);
    if (p.enabled !== undefined) {
      if (p.enabled === false && !this.capabilities.disable) throw this.noDisableConvention(username);
      changes.push(...this.enabledChanges(rec, p.enabled));
    }
    if (changes.length > 0) await this.run(`update user ${username}`, (c) => c.modify(entry.dn, changes));
    return this.mustGet(username);
  }

  async disableUser(username: string): Promise<StoreUser> {
    return this.updateUser(username, { enabled: false });
  }

  async deleteUser(username: string): Promise<boolean> {
    this.assertWritable();
    const entry = await this.findUserEntry(username);
    if (!entry) return false;
    try {
      await this.run(`delete user ${username}`, (c) => c.del(entry.dn));
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'not_found') return false;
      throw err;
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.sessions.values()]) this.dropSession(s);
    const shared = this.shared;
    this.shared = undefined;
    if (shared) await shared.then((c) => c.unbind()).catch(() => undefined);
  }

  // ---- connection handling -------------------------------------------------------------------

  private async connect(): Promise<Client> {
    if (this.closed) throw new StoreError('invalid_request', `${this.location} store is closed`);
    const tlsOptions = await this.tlsOptions();
    const client = new Client({
      url: this.host,
      timeout: this.config.timeoutMs,
      connectTimeout: this.config.connectTimeoutMs,
      ...(tlsOptions ? { tlsOptions } : {}),
    });
    try {
      if (this.config.startTls) await client.startTLS(tlsOptions ?? {});
      if (this.config.bind) {
        const password = await this.resolveSecret(this.config.bind.password).catch((err: unknown) => {
          throw new StoreError('invalid_config', `LDAP bind password for ${this.host} is unavailable: ${causeText(err)}`);
        });
        await client.bind(this.config.bind.dn, password);
      }
      return client;
    } catch (err) {
      await client.unbind().catch(() => undefined);
      if (err instanceof ResultCodeError && err.code === 49) {
        throw new StoreError(
          'auth_failed',
          `cannot bind to ${this.location} as ${this.config.bind?.dn ?? 'anonymous'}: invalid credentials; check the bind DN and the password in ${this.config.bind ? describeSecretRef(this.config.bind.password) : 'the configuration'}`,
          { cause: err },
        );
      }
      throw this.mapError(err, 'connect');
    }
  }

  private async tlsOptions(): Promise<ConnectionOptions | undefined> {
    const tls = this.config.tls;
    if (!tls && !this.config.startTls && !this.host.toLowerCase().startsWith('ldaps:')) return undefined;
    const opts: ConnectionOptions = { rejectUnauthorized: !(tls?.insecureSkipVerify ?? false) };
    if (tls?.servername) opts.servername = tls.servername;
    else opts.servername = new URL(this.host.replace(/^ldaps?:/i, 'http:')).hostname;
    if (tls?.caFile) {
      try {
        opts.ca = await readFile(tls.caFile, 'utf8');
      } catch (err) {
        throw new StoreError('invalid_config', `cannot read the LDAP CA file ${tls.caFile} (${causeText(err)})`);
      }
    }
    return opts;
  }

  /** Runs one operation on the shared connection; a broken connection is dropped for the next call. */
  private async run<T>(what: string, op: (c: Client) => Promise<T>): Promise<T> {
    if (!this.shared) {
      const p = this.connect();
      this.shared = p;
      p.catch(() => {
        if (this.shared === p) this.shared = undefined;
      });
    }
    const pending = this.shared;
    const client = await pending;
    try {
      return await op(client);
    } catch (err) {
      if (isNetworkError(err) || !client.isConnected) {
        if (this.shared === pending) this.shared = undefined;
        await client.unbind().catch(() => undefined);
      }
      throw this.mapError(err, what);
    }
  }

  private mapError(err: unknown, what: string): StoreError {
    if (err instanceof StoreError) return err;
    if (err instanceof FilterTranslationError) return new StoreError('invalid_request', `cannot ${what}: ${err.message}`);
    const at = `${this.location}`;
    if (err instanceof ResultCodeError) {
      const detail = `${err.message} (LDAP result ${err.code})`;
      switch (err.code) {
        case 49:
          return new StoreError('auth_failed', `cannot ${what} at ${at}: ${detail}; check the bind DN and password`, { cause: err });
        case 50:
          return new StoreError('auth_failed', `cannot ${what} at ${at}: the bind DN lacks permission (${detail}); grant it access in the directory's ACLs`, { cause: err });
        case 32:
          return new StoreError('not_found', `cannot ${what} at ${at}: no such entry (${detail}); check usersDn/groupsDn`, { cause: err });
        case 68:
          return new StoreError('conflict', `cannot ${what} at ${at}: entry already exists (${detail})`, { cause: err });
        case 3:
        case 51:
        case 52:
        case 80:
          return new StoreError('unavailable', `cannot ${what} at ${at}: server busy or unavailable (${detail}); will retry`, { cause: err });
        case 4:
          return new StoreError('invalid_request', `cannot ${what} at ${at}: the server's size limit was hit (${detail}); raise the limit for the bind DN (OpenLDAP: limits ... size.prtotal=unlimited)`, { cause: err });
        default:
          return new StoreError('invalid_request', `cannot ${what} at ${at}: ${detail}`, { cause: err });
      }
    }
    const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
    if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
      return new StoreError('invalid_config', `cannot ${what} at ${at}: TLS certificate not trusted (${causeText(err)}); set tls.caFile to the CA that signed it`, { cause: err });
    }
    return new StoreError('unavailable', `cannot ${what} at ${at}: ${causeText(err)}; check that the server is up and reachable`, { cause: err });
  }

  // ---- paging --------------------------------------------------------------------------------

  private async pagedSearch(query: PagedQuery, cursor: string | null | undefined, size: number): Promise<{ entries: Entry[]; next: string | null }> {
    const pos = decodeCursor('ldap', query.fingerprint, cursor);
    const session = await this.sessionFor(query, pos, size);
    try {
      while (session.buffer.length < size && !session.done) await this.pull(session);
      const entries = session.buffer.splice(0, size);
      session.handedOut += entries.length;
      // Read one page ahead when the buffer is empty so the last page says "no more" itself.
      if (session.buffer.length === 0 && !session.done) await this.pull(session);
      if (session.done && session.buffer.length === 0) {
        this.dropSession(session);
        return { entries, next: null };
      }
      this.touch(session);
      return { entries, next: encodeCursor('ldap', query.fingerprint, { s: session.id, n: session.handedOut }) };
    } catch (err) {
      this.dropSession(session);
      throw this.mapError(err, 'page through entries');
    }
  }

  private async pull(session: PagedSession): Promise<void> {
    const r = await session.pages.next();
    if (r.done) session.done = true;
    else session.buffer.push(...r.value.searchEntries);
  }

  private async sessionFor(query: PagedQuery, pos: CursorPosition | null, size: number): Promise<PagedSession> {
    if (pos !== null) {
      const existing = this.sessions.get(String(pos.s));
      if (existing && existing.query === query.fingerprint && existing.handedOut === Number(pos.n)) return existing;
      if (existing) this.dropSession(existing);
    }
    while (this.sessions.size >= MAX_SESSIONS) {
      const oldest = this.sessions.values().next().value;
      if (!oldest) break;
      this.dropSession(oldest);
    }
    const client = await this.connect();
    const session: PagedSession = {
      id: randomUUID(),
      query: query.fingerprint,
      client,
      pages: client.searchPaginated(query.base, {
        scope: 'sub',
        filter: query.filter,
        attributes: query.attributes,
        explicitBufferAttributes: BINARY_ATTRIBUTES,
        paged: { pageSize: Math.max(size, 100) },
      }),
      buffer: [],
      handedOut: 0,
      done: false,
      timer: undefined,
    };
    this.sessions.set(session.id, session);
    try {
      // Resuming a cursor this process no longer has a session for: re-read and skip.
      const skip = pos === null ? 0 : Number(pos.n);
      while (session.handedOut < skip) {
        if (session.buffer.length === 0) {
          if (session.done) break;
          await this.pull(session);
          continue;
        }
        const dropped = session.buffer.splice(0, skip - session.handedOut);
        session.handedOut += dropped.length;
      }
    } catch (err) {
      this.dropSession(session);
      throw this.mapError(err, 'resume paging');
    }
    return session;
  }

  private touch(session: PagedSession): void {
    if (session.timer) clearTimeout(session.timer);
    session.timer = setTimeout(() => this.dropSession(session), SESSION_IDLE_MS);
    session.timer.unref();
    // Map order doubles as LRU order.
    this.sessions.delete(session.id);
    this.sessions.set(session.id, session);
  }

  private dropSession(session: PagedSession): void {
    if (session.timer) clearTimeout(session.timer);
    this.sessions.delete(session.id);
    session.buffer = [];
    void session.client.unbind().catch(() => undefined);
  }

  // ---- scope and membership ------------------------------------------------------------------

  private async scopeFilter(scope: Scope): Promise<string> {
    switch (scope.kind) {
      case 'all':
        return '';
      case 'filter':
        forEachComparison(scope.filter, (c) => {
          if (!isLdapAttributeName(c.attr)) {
            throw new StoreError('invalid_request', `scope filter attribute "${c.attr}" is not a valid LDAP attribute name (letters, digits and "-" only)`);
          }
        });
        return toLdapFilter(scope.filter, (attr) => this.logicalAttr(attr));
      case 'groups': {
        const groups = await this.resolveGroups(scope.groups);
        return `(|${groups.map((g) => `(${this.attrs.memberOf}=${escapeLdapFilterValue(g.dn)})`).join('')})`;
      }
    }
  }

  /** Filters may use the normalised field names (username, email, ...) as well as raw attributes. */
  private logicalAttr(attr: string): string {
    const a = this.attrs;
    const map: Record<string, string | undefined> = {
      username: a.username, email: a.email, givenName: a.givenName, familyName: a.familyName,
      displayName: a.displayName, externalId: a.externalId,
    };
    return map[attr] ?? attr;
  }

  /** Finds scope groups by name (or externalId when it looks like a UUID); a missing group is an error, never "no members". */
  private async resolveGroups(refs: readonly string[]): Promise<{ dn: string; record: LdapRecord }[]> {
    const out: { dn: string; record: LdapRecord }[] = [];
    for (const ref of refs) {
      const byId = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref) && this.attrs.externalId.toLowerCase() !== 'objectguid';
      const v = escapeLdapFilterValue(ref);
      const match = byId ? `(|(${this.attrs.groupName}=${v})(${this.attrs.externalId}=${v}))` : `(${this.attrs.groupName}=${v})`;
      const res = await this.run(`find scope group ${ref}`, (c) =>
        c.search(this.groupsDn, { scope: 'sub', filter: `(&${this.groupFilter}${match})`, attributes: [this.attrs.externalId, this.attrs.groupName, this.attrs.member], explicitBufferAttributes: BINARY_ATTRIBUTES }),
      );
      if (res.searchEntries.length === 0) {
        throw new StoreError('not_found', `scope group "${ref}" not found under ${this.groupsDn} at ${this.location}; fix the rule's scope or the group filter`);
      }
      for (const e of res.searchEntries) out.push({ dn: e.dn, record: normalise(e) });
    }
    return out;
  }

  private async memberDnsOf(refs: readonly string[]): Promise<string[]> {
    const groups = await this.resolveGroups(refs);
    const dns = new Map<string, string>();
    for (const g of groups) for (const dn of values(g.record, this.attrs.member)) dns.set(normaliseDn(dn), dn);
    return [...dns.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, dn]) => dn);
  }

  /** `member` mode with a group scope: page over the sorted member DNs, reading users by DN. */
  private async listMembersByMemberAttribute(refs: readonly string[], cursor: string | null | undefined, size: number): Promise<Page<StoreUser>> {
    const fingerprint = queryFingerprint(['users', { kind: 'groups', groups: refs }, 'member']);
    const pos = decodeCursor('ldap', fingerprint, cursor);
    const after = pos === null ? null : String(pos.after);
    const all = await this.memberDnsOf(refs);
    let i = after === null ? 0 : all.findIndex((dn) => normaliseDn(dn) > after);
    if (i < 0) i = all.length;
    const slice = all.slice(i, i + size);
    const entries = (
      await Promise.all(
        slice.map((dn) =>
          this.run(`read member ${dn}`, (c) => c.search(dn, { scope: 'base', filter: this.userFilter, attributes: this.userAttributes(), explicitBufferAttributes: BINARY_ATTRIBUTES })).then(
            (r) => r.searchEntries,
            (err: unknown) => {
              // A dangling member DN (user deleted, group not updated) is not a failure of the page.
              if (err instanceof StoreError && err.kind === 'not_found') return [];
              throw err;
            },
          ),
        ),
      )
    ).flat();
    const last = slice[slice.length - 1];
    const more = i + slice.length < all.length && last !== undefined;
    return withInvalid(await this.readUsers(entries), more ? encodeCursor('ldap', fingerprint, { after: normaliseDn(last) }) : null);
  }

  private userAttributes(): string[] {
    const list = ['*', this.attrs.externalId];
    if (this.config.membership === 'memberOf') list.push(this.attrs.memberOf);
    // `*` means user attributes only: a convention on an operational attribute (pwdAccountLockedTime) must ask for it.
    if (this.disabled.kind === 'attribute') list.push(this.disabled.attribute);
    list.push(...(this.config.operationalAttributes ?? []));
    return [...new Set(list)];
  }

  private async findUserEntry(username: string): Promise<Entry | undefined> {
    const filter = `(&${this.userFilter}(${this.attrs.username}=${escapeLdapFilterValue(username)}))`;
    const res = await this.run(`look up user ${username}`, (c) =>
      c.search(this.usersDn, { scope: 'sub', filter, attributes: this.userAttributes(), explicitBufferAttributes: BINARY_ATTRIBUTES }),
    );
    if (res.searchEntries.length > 1) {
      throw new StoreError('conflict', `username ${username} matches ${res.searchEntries.length} entries at ${this.location}; make ${this.attrs.username} unique or narrow usersDn/userFilter`);
    }
    return res.searchEntries[0];
  }

  private async mustGet(username: string): Promise<StoreUser> {
    const user = await this.getUser(username);
    if (!user) throw new StoreError('not_found', `user ${username} was written but cannot be read back from ${this.location}; check usersDn and userFilter match new users`);
    return user;
  }

  /**
   * Users for a lookup: every entry found must be readable, since a user left out here would look
   * gone (and be deprovisioned); an unreadable one fails the whole lookup as incomplete.
   */
  private async toUsers(entries: Entry[]): Promise<StoreUser[]> {
    const { users, invalid } = await this.readUsers(entries);
    const bad = invalid[0];
    if (bad) {
      throw new StoreError(
        'incomplete',
        `LDAP entry ${bad.ref} at ${this.location} ${bad.reason}; a lookup that finds it cannot tell whether that user is still there, so it fails${invalid.length > 1 ? ` (${invalid.length} such entries)` : ''}`,
      );
    }
    return users;
  }

  /** Users for a listing page: an unreadable entry is set aside with its DN and why, the others are read. */
  private async readUsers(entries: Entry[]): Promise<{ users: StoreUser[]; invalid: InvalidEntry[] }> {
    const records: LdapRecord[] = [];
    const invalid: InvalidEntry[] = [];
    for (const entry of entries) {
      const record = parseEntry(entry);
      if ('problem' in record) {
        invalid.push({ ref: entry.dn, reason: record.problem });
        continue;
      }
      const problem = this.unreadableUser(record);
      if (problem) invalid.push({ ref: record.dn, reason: problem });
      else records.push(record);
    }
    const groupIds = await this.groupIdsFor(records);
    return { users: records.map((r, i) => this.toUser(r, groupIds[i] ?? [])), invalid };
  }

  /** Why an entry cannot be a user record, or undefined when it can. */
  private unreadableUser(r: LdapRecord): string | undefined {
    const missing = [this.attrs.username, this.attrs.externalId].filter((attr) => values(r, attr).length === 0);
    return missing.length ? `has no ${missing.join(' and no ')}; fix the entry or the attribute map` : undefined;
  }

  private async groupIdsFor(records: LdapRecord[]): Promise<string[][]> {
    if (this.config.membership === 'member') {
      return Promise.all(
        records.map(async (r) => {
          const res = await this.run('read group memberships', (c) =>
            c.search(this.groupsDn, {
              scope: 'sub',
              filter: `(&${this.groupFilter}(${this.attrs.member}=${escapeLdapFilterValue(r.dn)}))`,
              attributes: [this.attrs.externalId],
              explicitBufferAttributes: BINARY_ATTRIBUTES,
            }),
          );
          return res.searchEntries.map((e) => externalIdOf(normalise(e), this.attrs.externalId)).filter((id): id is string => id !== undefined);
        }),
      );
    }
    const unknown = new Set<string>();
    for (const r of records) for (const dn of values(r, this.attrs.memberOf)) if (!this.groupIdByDn.has(normaliseDn(dn))) unknown.add(dn);
    await Promise.all([...unknown].map((dn) => this.resolveGroupDn(dn)));
    return records.map((r) =>
      values(r, this.attrs.memberOf)
        .map((dn) => this.groupIdByDn.get(normaliseDn(dn)))
        .filter((id): id is string => typeof id === 'string'),
    );
  }

  private async resolveGroupDn(dn: string): Promise<void> {
    const key = normaliseDn(dn);
    if (!key.endsWith(normaliseDn(this.groupsDn))) {
      this.groupIdByDn.set(key, null);
      return;
    }
    const res = await this.run(`read group ${dn}`, (c) =>
      c.search(dn, { scope: 'base', filter: this.groupFilter, attributes: [this.attrs.externalId], explicitBufferAttributes: BINARY_ATTRIBUTES }),
    ).catch((err: unknown) => {
      if (err instanceof StoreError && err.kind === 'not_found') return { searchEntries: [], searchReferences: [] };
      throw err;
    });
    const e = res.searchEntries[0];
    // Bounded cache: group counts are small, but never let it grow without limit.
    if (this.groupIdByDn.size > 50_000) this.groupIdByDn.clear();
    this.groupIdByDn.set(key, e ? (externalIdOf(normalise(e), this.attrs.externalId) ?? null) : null);
  }

  private toUser(r: LdapRecord, groupIds: string[]): StoreUser {
    const a = this.attrs;
    const first = (attr: string): string | undefined => values(r, attr)[0];
    const username = first(a.username);
    const externalId = externalIdOf(r, a.externalId);
    if (!username || !externalId) throw new StoreError('invalid_request', `LDAP entry ${r.dn} at ${this.location} ${this.unreadableUser(r) ?? 'cannot be read'}`);
    const phones = [...new Set(a.phones.flatMap((p) => values(r, p)))];
    const attributes: Record<string, string | string[]> = { dn: r.dn };
    for (const { name, values: vs } of r.attrs.values()) {
      if (SECRET_ATTRIBUTE.test(name)) continue;
      attributes[name] = vs.length === 1 ? vs[0]! : vs;
    }
    const email = first(a.email);
    const givenName = first(a.givenName);
    const familyName = first(a.familyName);
    const displayName = first(a.displayName);
    return {
      externalId,
      username,
      ...(email !== undefined ? { email } : {}),
      phones,
      ...(givenName !== undefined ? { givenName } : {}),
      ...(familyName !== undefined ? { familyName } : {}),
      ...(displayName !== undefined ? { displayName } : {}),
      enabled: this.isEnabled(r),
      groupIds,
      attributes,
    };
  }

  private toGroup(r: LdapRecord): StoreGroup {
    const externalId = externalIdOf(r, this.attrs.externalId);
    const name = values(r, this.attrs.groupName)[0];
    if (!externalId || !name) {
      throw new StoreError('invalid_request', `LDAP group ${r.dn} at ${this.location} has no ${!name ? this.attrs.groupName : this.attrs.externalId}`);
    }
    const description = values(r, this.attrs.groupDescription)[0];
    return { externalId, name, ...(description !== undefined ? { description } : {}) };
  }

  private isEnabled(r: LdapRecord): boolean {
    const d = this.disabled;
    switch (d.kind) {
      case 'none':
        return true;
      case 'attribute':
        return !(d.match === 'first' ? values(r, d.attribute).slice(0, 1) : values(r, d.attribute)).some((v) => ldapValuesEqual(v, d.value));
      case 'userAccountControl': {
        const uac = Number.parseInt(values(r, 'userAccountControl')[0] ?? '0', 10);
        return (uac & UAC_DISABLED) === 0;
      }
    }
  }

  private enabledChanges(r: LdapRecord, enabled: boolean): Change[] {
    const d = this.disabled;
    switch (d.kind) {
      case 'none':
        return [];
      case 'attribute': {
        if (enabled === this.isEnabled(r)) return [];
        // Disabling sets the value alone: the attribute may be single-valued (pwdAccountLockedTime holding a timed lock).
        if (!enabled) return [new Change({ operation: 'replace', modification: new Attribute({ type: d.attribute, values: [d.value] }) })];
        // Enabling removes only the values that say disabled: others (employeeType "contractor") are data of their own.
        const matching = values(r, d.attribute).filter((v) => ldapValuesEqual(v, d.value));
        return [new Change({ operation: 'delete', modification: new Attribute({ type: d.attribute, values: matching }) })];
      }
      case 'userAccountControl': {
        const uac = Number.parseInt(values(r, 'userAccountControl')[0] ?? '512', 10);
        const next = enabled ? uac & ~UAC_DISABLED : uac | UAC_DISABLED;
        return next === uac ? [] : [new Change({ operation: 'replace', modification: new Attribute({ type: 'userAccountControl', values: [String(next)] }) })];
      }
    }
  }

  private disabledValuesOnCreate(): Record<string, string[]> {
    const d = this.disabled;
    if (d.kind === 'attribute') return { [d.attribute]: [d.value] };
    if (d.kind === 'userAccountControl') return { userAccountControl: ['514'] };
    return {};
  }

  private noDisableConvention(username: string): StoreError {
    return new StoreError('invalid_config', `cannot disable user ${username} at ${this.location}: no disabled-account convention is configured; set "disabled" in the store configuration`);
  }

  private checkedAttr(attr: string): string {
    if (!isLdapAttributeName(attr)) throw new StoreError('invalid_request', `"${attr}" is not a valid LDAP attribute name`);
    return attr;
  }
}

function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** An entry's attributes by lower-cased name, or why the entry has an unexpected shape. */
function parseEntry(entry: Entry): LdapRecord | { problem: string } {
  const parsed = LdapEntrySchema.safeParse(entry);
  if (!parsed.success) return { problem: `has an unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  const attrs = new Map<string, { name: string; values: string[] }>();
  for (const [name, raw] of Object.entries(parsed.data)) {
    if (name === 'dn') continue;
    const list = Array.isArray(raw) ? raw : [raw];
    const strings: string[] = [];
    for (const v of list) {
      if (typeof v === 'string') strings.push(v);
      else if (name.toLowerCase() === 'objectguid' && v.length === 16) strings.push(formatGuid(v));
    }
    if (strings.length > 0) attrs.set(name.toLowerCase(), { name, values: strings });
  }
  return { dn: parsed.data.dn, attrs };
}

/** `parseEntry` where one bad entry fails the read (groups, memberships, the entry being written). */
function normalise(entry: Entry): LdapRecord {
  const record = parseEntry(entry);
  if ('problem' in record) throw new StoreError('invalid_request', `LDAP entry ${entry.dn} ${record.problem}`);
  return record;
}

/** A listing page: `invalid` only when some entry could not be read. */
function withInvalid(read: { users: StoreUser[]; invalid: InvalidEntry[] }, nextCursor: string | null): Page<StoreUser> {
  return { items: read.users, nextCursor, ...(read.invalid.length > 0 ? { invalid: read.invalid } : {}) };
}

/**
 * Equality as LDAP's caseIgnoreMatch decides it (RFC 4517 §4.2.11 with RFC 4518 string
 * preparation): compatibility-normalised, case folded, leading and trailing spaces ignored and
 * inner runs of spaces taken as one. So "Disabled ", " DISABLED" and "disabled" are equal, as the
 * directory itself says in a filter (employeeType=disabled); "dis abled" is not.
 */
export function ldapValuesEqual(a: string, b: string): boolean {
  const prepare = (v: string): string => v.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
  return prepare(a) === prepare(b);
}

function values(r: LdapRecord, attr: string): string[] {
  return r.attrs.get(attr.toLowerCase())?.values ?? [];
}

function externalIdOf(r: LdapRecord, attr: string): string | undefined {
  return values(r, attr)[0];
}

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GUID_BYTE_ORDER = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];

/** The inverse of formatGuid, as an LDAP filter value (`\\xx` per byte). */
function guidFilterValue(guid: string): string {
  const hex = guid.replace(/-/g, '');
  const bytes: string[] = new Array<string>(16);
  GUID_BYTE_ORDER.forEach((b, i) => (bytes[b] = hex.slice(i * 2, i * 2 + 2)));
  return bytes.map((b) => `\\${b}`).join('');
}

/** AD objectGUID bytes → the usual string form (first three fields little-endian). */
function formatGuid(b: Buffer): string {
  const hex = (i: number[]): string => i.map((x) => b[x]!.toString(16).padStart(2, '0')).join('');
  return `${hex([3, 2, 1, 0])}-${hex([5, 4])}-${hex([7, 6])}-${hex([8, 9])}-${hex([10, 11, 12, 13, 14, 15])}`;
}

/** DN comparison key: lower case, no spaces around separators (servers differ in both). */
function normaliseDn(dn: string): string {
  return dn.toLowerCase().replace(/\s*([,=+])\s*/g, '$1');
}
