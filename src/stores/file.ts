/**
 * File identity store: a JSON or YAML directory file `{ users: [...], groups: [...] }`, the
 * embedded default for the demo and tests. Reads re-parse the file only when it changed on disk
 * (inode, size, mtime), so edits by ops show up without a restart. Writes re-read the latest
 * version, then replace the file atomically (temp file + fsync + rename + directory fsync) so a
 * crash leaves either the old or the new file, never a torn one; writers in one process queue on
 * a per-path lock.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { usernameKey } from '../domain/duo-rules';
import type { FileStoreConfig } from '../domain/store-config';
import { assertLookupBatch, decodeCursor, encodeCursor, pageSizeOf, queryFingerprint } from './cursor';
import { StoreError, causeText } from './errors';
import { ALL_USERS, matchesFilter, parseScope, type Scope } from './filter';
import { JsonScanError, readSpans, scanJsonDirectory, type JsonSpan } from './json-index';
import {
  NewUserSchema,
  UserPatchSchema,
  type IdentityStore,
  type NewUser,
  type Page,
  type PageRequest,
  type StoreCapabilities,
  type StoreGroup,
  type StoreUser,
  type UserPatch,
} from './types';

const AttrValue = z.union([z.string(), z.array(z.string())]);
const AttrRecord = z.record(z.string(), AttrValue);

/**
 * Attributes keep every name as an own property, `__proto__` and `constructor` included: a record
 * rebuilt by plain assignment would turn `__proto__` into a prototype change and drop the value.
 */
const AttributesSchema = z
  .unknown()
  .superRefine((raw, ctx) => {
    const r = AttrRecord.safeParse(raw);
    if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  })
  .transform((raw) => ownAttributes(raw as Record<string, string | string[]>));

function ownAttributes(raw: Record<string, string | string[]>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(raw)) {
    Object.defineProperty(out, name, { value: Array.isArray(value) ? [...value] : value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

const FileUserSchema = z
  .object({
    /** Stable id; defaults to the username when omitted (fine for hand-written files). */
    id: z.string().min(1).optional(),
    username: z.string().min(1),
    email: z.string().min(1).optional(),
    phones: z.array(z.string().min(1)).default([]),
    givenName: z.string().min(1).optional(),
    familyName: z.string().min(1).optional(),
    displayName: z.string().min(1).optional(),
    enabled: z.boolean().default(true),
    /** Group ids or names. */
    groups: z.array(z.string().min(1)).default([]),
    attributes: AttributesSchema.default({}),
  })
  .strict();
type FileUser = z.output<typeof FileUserSchema>;

const FileGroupSchema = z
  .object({
    id: z.string().min(1).optional(),
    name: z.string().min(1),
    description: z.string().optional(),
    /** Ids or names of the groups this group is a member of (nested groups), as a user lists its groups. */
    groups: z.array(z.string().min(1)).optional(),
  })
  .strict();

export const DirectoryFileSchema = z
  .object({ users: z.array(FileUserSchema).default([]), groups: z.array(FileGroupSchema).default([]) })
  .strict();
export type DirectoryFile = z.input<typeof DirectoryFileSchema>;
type ParsedDirectory = z.output<typeof DirectoryFileSchema>;

/**
 * What a read needs: the paging order and the groups. JSON files are indexed (byte ranges, a few
 * bytes per user) and users are read back per page, so memory does not grow with the directory;
 * YAML files (hand-written, small) are held parsed.
 */
interface Snapshot {
  key: string;
  /** Lower-cased usernames, sorted: the paging order (cursor = last username seen). */
  keys: string[];
  groups: StoreGroup[];
  /** Group id or lower-cased name → group externalId. */
  groupRef: Map<string, string>;
  /** Explicit user id → its positions in `keys` (more than one only in a file that repeats an id). */
  idPositions: Map<string, number | number[]>;
  /** The users at these positions of `keys`, read through the open file `fh`. */
  users(positions: readonly number[], fh: FileHandle): Promise<FileUser[]>;
}

type ReadUsers = (positions: readonly number[]) => Promise<FileUser[]>;

/** One write queue per absolute path, shared by every FileStore in this process. */
const writeQueues = new Map<string, Promise<unknown>>();

/** Username (and group name) key: the same normalisation as Duo comparisons (surrounding spaces, case). */
function lower(s: string): string {
  return usernameKey(s);
}

export class FileStore implements IdentityStore {
  readonly kind = 'file' as const;
  readonly location: string;
  readonly capabilities: StoreCapabilities;
  private readonly file: string;
  private readonly yaml: boolean;
  private snapshot: Snapshot | undefined;

  constructor(config: FileStoreConfig) {
    this.file = path.resolve(config.path);
    this.yaml = /\.ya?ml$/i.test(this.file);
    this.location = `file ${this.file}`;
    this.capabilities = { write: !config.readOnly, disable: !config.readOnly };
  }

  assertWritable(): void {
    if (!this.capabilities.write) {
      throw new StoreError('read_only', `${this.location} is configured readOnly; set readOnly: false to use it for inbound rules`);
    }
  }

  async check(): Promise<void> {
    await this.read(async () => undefined);
  }

  async listUsers(requested: Scope, page?: PageRequest): Promise<Page<StoreUser>> {
    const scope = parseScope(requested);
    const size = pageSizeOf(page);
    const q = queryFingerprint(['users', scope]);
    const pos = decodeCursor('file', q, page?.cursor);
    const after = pos === null ? null : String(pos.after);
    return this.read(async (snap, readUsers) => {
      const match = this.scopeMatcher(snap, scope);
      const items: StoreUser[] = [];
      let i = after === null ? 0 : firstAfter(snap.keys, after);
      let last: string | null = null;
      while (i < snap.keys.length && items.length < size) {
        const positions = Array.from({ length: Math.min(size, snap.keys.length - i) }, (_, k) => i + k);
        const batch = await readUsers(positions);
        for (const u of batch) {
          i += 1;
          last = lower(u.username);
          if (match(u)) items.push(this.toStoreUser(snap, u));
          if (items.length >= size) break;
        }
      }
      return { items, nextCursor: i < snap.keys.length && last !== null ? encodeCursor('file', q, { after: last }) : null };
    });
  }

  async listGroups(page?: PageRequest): Promise<Page<StoreGroup>> {
    const size = pageSizeOf(page);
    const q = queryFingerprint(['groups']);
    const pos = decodeCursor('file', q, page?.cursor);
    const start = pos === null ? 0 : Number(pos.i);
    return this.read(async (snap) => {
      const items = snap.groups.slice(start, start + size);
      const next = start + items.length;
      return { items, nextCursor: next < snap.groups.length ? encodeCursor('file', q, { i: next }) : null };
    });
  }

  async listGroupMembers(groupExternalId: string, page?: PageRequest): Promise<Page<StoreUser>> {
    const known = await this.read(async (snap) => snap.groups.some((g) => g.externalId === groupExternalId));
    if (!known) throw new StoreError('not_found', `group ${groupExternalId} not found in ${this.location}`);
    return this.listUsers({ kind: 'groups', groups: [groupExternalId] }, page);
  }

  async lookupUsers(usernames: readonly string[], requested: Scope = ALL_USERS): Promise<StoreUser[]> {
    const scope = parseScope(requested);
    assertLookupBatch(usernames);
    return this.read(async (snap, readUsers) => {
      const match = this.scopeMatcher(snap, scope);
      const positions = [...new Set(usernames.map((name) => indexOf(snap.keys, lower(name))).filter((p) => p >= 0))];
      const found = new Map((await readUsers(positions)).map((u) => [lower(u.username), u]));
      const seen = new Set<string>();
      const out: StoreUser[] = [];
      for (const name of usernames) {
        const u = found.get(lower(name));
        if (u && !seen.has(lower(u.username)) && match(u)) {
          seen.add(lower(u.username));
          out.push(this.toStoreUser(snap, u));
        }
      }
      return out;
    });
  }

  async lookupUsersByExternalId(externalIds: readonly string[], requested: Scope = ALL_USERS): Promise<StoreUser[]> {
    const scope = parseScope(requested);
    assertLookupBatch(externalIds);
    if (externalIds.length === 0) return [];
    const wanted = new Set(externalIds);
    // A store id is a user's explicit id or, without one, its exact username: both are indexed, so a
    // lookup reads only the candidates (a rename pass looks up every Duo page's ids).
    return this.read(async (snap, readUsers) => {
      const match = this.scopeMatcher(snap, scope);
      const candidates = new Set<number>();
      for (const id of wanted) {
        const byId = snap.idPositions.get(id);
        if (typeof byId === 'number') candidates.add(byId);
        else for (const p of byId ?? []) candidates.add(p);
        const byName = indexOf(snap.keys, lower(id));
        if (byName >= 0) candidates.add(byName);
      }
      const positions = [...candidates].sort((a, b) => a - b);
      return (await readUsers(positions)).filter((u) => wanted.has(u.id ?? u.username) && match(u)).map((u) => this.toStoreUser(snap, u));
    });
  }

  async getUser(username: string): Promise<StoreUser | null> {
    return this.read(async (snap, readUsers) => {
      const position = indexOf(snap.keys, lower(username));
      if (position < 0) return null;
      const [u] = await readUsers([position]);
      return u ? this.toStoreUser(snap, u) : null;
    });
  }

  async createUser(input: NewUser): Promise<StoreUser> {
    this.assertWritable();
    const user = NewUserSchema.parse(input);
    await this.mutate((dir) => {
      if (dir.users.some((u) => lower(u.username) === lower(user.username))) {
        throw new StoreError('conflict', `user ${user.username} already exists in ${this.location}`);
      }
      const created: FileUser = {
        id: randomUUID(),
        username: user.username,
        phones: user.phones ?? [],
        enabled: user.enabled ?? true,
        groups: [],
        attributes: user.attributes ?? {},
        ...(user.email !== undefined ? { email: user.email } : {}),
        ...(user.givenName !== undefined ? { givenName: user.givenName } : {}),
        ...(user.familyName !== undefined ? { familyName: user.familyName } : {}),
        ...(user.displayName !== undefined ? { displayName: user.displayName } : {}),
      };
      dir.users.push(created);
    });
    return this.reread(user.username);
  }

  async updateUser(username: string, patch: UserPatch): Promise<StoreUser> {
    this.assertWritable();
    const p = UserPatchSchema.parse(patch);
    let name = username;
    await this.mutate((dir) => {
      const u = dir.users.find((x) => lower(x.username) === lower(username));
      if (!u) throw new StoreError('not_found', `user ${username} not found in ${this.location}`);
      for (const field of ['email', 'givenName', 'familyName', 'displayName'] as const) {
        const v = p[field];
        if (v === null) delete u[field];
        else if (v !== undefined) u[field] = v;
      }
      if (p.phones !== undefined) u.phones = p.phones ?? [];
      if (p.enabled !== undefined) u.enabled = p.enabled;
      for (const [k, v] of Object.entries(p.attributes ?? {})) {
        if (v === null) delete u.attributes[k];
        else u.attributes[k] = v;
      }
      name = u.username;
    });
    return this.reread(name);
  }

  async disableUser(username: string): Promise<StoreUser> {
    return this.updateUser(username, { enabled: false });
  }

  async deleteUser(username: string): Promise<boolean> {
    this.assertWritable();
    let removed = false;
    await this.mutate((dir) => {
      const before = dir.users.length;
      dir.users = dir.users.filter((u) => lower(u.username) !== lower(username));
      removed = dir.users.length !== before;
    });
    return removed;
  }

  async close(): Promise<void> {
    this.snapshot = undefined;
  }

  // -------------------------------------------------------------------------------------------

  private scopeMatcher(snap: Snapshot, scope: Scope): (u: FileUser) => boolean {
    if (scope.kind === 'all') return () => true;
    if (scope.kind === 'groups') {
      const wanted = new Set<string>();
      for (const g of scope.groups) {
        const id = snap.groupRef.get(g) ?? snap.groupRef.get(lower(g));
        if (id === undefined) {
          throw new StoreError('not_found', `scope group "${g}" not found in ${this.location}; fix the rule's scope or add the group`);
        }
        wanted.add(id);
      }
      return (u) => this.groupIdsOf(snap, u).some((id) => wanted.has(id));
    }
    const filter = scope.filter;
    return (u) => matchesFilter(filter, (attr) => fileAttribute(u, attr, () => this.groupIdsOf(snap, u)));
  }

  private groupIdsOf(snap: Snapshot, u: FileUser): string[] {
    const ids: string[] = [];
    for (const g of u.groups) {
      const id = snap.groupRef.get(g) ?? snap.groupRef.get(lower(g));
      if (id !== undefined && !ids.includes(id)) ids.push(id);
    }
    return ids;
  }

  private toStoreUser(snap: Snapshot, u: FileUser): StoreUser {
    return {
      externalId: u.id ?? u.username,
      username: u.username,
      ...(u.email !== undefined ? { email: u.email } : {}),
      phones: [...u.phones],
      ...(u.givenName !== undefined ? { givenName: u.givenName } : {}),
      ...(u.familyName !== undefined ? { familyName: u.familyName } : {}),
      ...(u.displayName !== undefined ? { displayName: u.displayName } : {}),
      enabled: u.enabled,
      groupIds: this.groupIdsOf(snap, u),
      attributes: ownAttributes(u.attributes),
    };
  }

  /**
   * Runs `fn` against the current version of the file, through one open handle: the index is
   * rebuilt when the file changed (inode, size, mtime), and reads go through the same handle, so a
   * concurrent atomic replace (a new inode) cannot mix two versions within one call.
   */
  private async read<T>(fn: (snap: Snapshot, readUsers: ReadUsers) => Promise<T>): Promise<T> {
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch (err) {
      throw new StoreError('unavailable', `cannot read ${this.location} (${causeText(err)}); check the path and permissions`, { cause: err });
    }
    try {
      const st = await fh.stat();
      const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
      let snap = this.snapshot;
      if (snap?.key !== key) {
        // Drop the old index first so two versions are never held at once.
        this.snapshot = undefined;
        snap = this.yaml ? yamlSnapshot(key, await this.parseDirectory(await fh.readFile('utf8'))) : await this.indexJson(key, fh);
        this.snapshot = snap;
      }
      const current = snap;
      return await fn(current, (positions) => current.users(positions, fh));
    } finally {
      await fh.close();
    }
  }

  private async indexJson(key: string, fh: FileHandle): Promise<Snapshot> {
    const names: string[] = [];
    const ids: (string | undefined)[] = [];
    let scan;
    try {
      scan = await scanJsonDirectory(fh, (text, index) => {
        let data: unknown;
        try {
          data = JSON.parse(text);
        } catch (err) {
          throw new StoreError('invalid_config', `${this.location} is not valid JSON: users.${index}: ${causeText(err)}`);
        }
        const user = FileUserSchema.safeParse(data);
        if (!user.success) throw this.invalidEntry(['users', index], user.error);
        names.push(lower(user.data.username));
        ids.push(user.data.id);
      });
    } catch (err) {
      if (err instanceof JsonScanError) throw new StoreError('invalid_config', `${this.location} is not valid JSON: ${err.message}`);
      if (err instanceof StoreError) throw err;
      throw new StoreError('unavailable', `cannot read ${this.location} (${causeText(err)}); check the path and permissions`, { cause: err });
    }
    const groups = z.array(FileGroupSchema).default([]).safeParse(scan.others.get('groups'));
    if (!groups.success) throw this.invalidEntry(['groups'], groups.error);

    const { keys, starts, lengths, order } = sortedIndex(names, scan.users);
    for (let i = 1; i < keys.length; i++) {
      if (keys[i] === keys[i - 1]) throw new StoreError('invalid_config', `${this.location} lists user ${keys[i]} twice`);
    }
    return {
      key,
      keys,
      ...groupIndex(groups.data),
      idPositions: idIndex(order.map((i) => ids[i])),
      users: async (positions, handle) => {
        const texts = await readSpans(
          handle,
          positions.map((p) => ({ start: starts[p] as number, length: lengths[p] as number })),
        );
        return texts.map((text, k) => {
          const parsed = FileUserSchema.safeParse(safeJson(text));
          // The file changed under us in place (same size and mtime): say so, a retry re-indexes.
          if (!parsed.success) throw new StoreError('unavailable', `${this.location} changed while it was read (user #${positions[k]}); retry`);
          return parsed.data;
        });
      },
    };
  }

  private invalidEntry(prefix: (string | number)[], error: z.ZodError): StoreError {
    const issue = error.issues[0];
    const where = [...prefix, ...(issue?.path ?? [])].map(String).join('.');
    return new StoreError('invalid_config', `${this.location} has an invalid entry at ${where || 'top level'}: ${issue?.message ?? 'invalid'}`);
  }

  /** The whole directory, parsed: for writes (read-modify-write) and YAML files. */
  private async readDirectory(): Promise<ParsedDirectory> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      throw new StoreError('unavailable', `cannot read ${this.location} (${causeText(err)}); check the path and permissions`, { cause: err });
    }
    return this.parseDirectory(text);
  }

  private async parseDirectory(text: string): Promise<ParsedDirectory> {
    let data: unknown;
    try {
      data = this.yaml ? YAML.parse(text) : JSON.parse(text);
    } catch (err) {
      throw new StoreError('invalid_config', `${this.location} is not valid ${this.yaml ? 'YAML' : 'JSON'}: ${causeText(err)}`);
    }
    const parsed = DirectoryFileSchema.safeParse(data ?? {});
    if (!parsed.success) throw this.invalidEntry([], parsed.error);
    const names = new Set<string>();
    for (const u of parsed.data.users) {
      if (names.has(lower(u.username))) throw new StoreError('invalid_config', `${this.location} lists user ${u.username} twice`);
      names.add(lower(u.username));
    }
    return parsed.data;
  }

  /** Serialised read-modify-write of the whole file. */
  private async mutate(change: (dir: ParsedDirectory) => void): Promise<void> {
    const prev = writeQueues.get(this.file) ?? Promise.resolve();
    const run = prev.then(async () => {
      const dir = await this.readDirectory();
      change(dir);
      await this.writeAtomically(dir);
    });
    const settled = run.catch(() => undefined);
    writeQueues.set(this.file, settled);
    try {
      await run;
    } finally {
      if (writeQueues.get(this.file) === settled) writeQueues.delete(this.file);
    }
  }

  private async reread(username: string): Promise<StoreUser> {
    const user = await this.getUser(username);
    if (!user) throw new StoreError('unavailable', `user ${username} vanished from ${this.location} right after the write; retry`);
    return user;
  }

  private async writeAtomically(dir: ParsedDirectory): Promise<void> {
    const text = this.yaml ? YAML.stringify(dir) : JSON.stringify(dir, null, 2) + '\n';
    const tmp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${process.pid}.${randomUUID()}.tmp`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(text, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new StoreError('unavailable', `cannot write ${this.location} (${causeText(err)}); check free space and permissions`, { cause: err });
    }
    // The rename is durable only once the directory entry is on disk.
    try {
      const dh = await open(path.dirname(this.file), 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch {
      // Some filesystems refuse fsync on directories; the rename itself already happened.
    }
  }
}

/**
 * Sorts the users' byte ranges by username. A separate function so the closures that read users
 * back capture only the compact index, not the scan's intermediate arrays.
 */
function sortedIndex(
  names: readonly string[],
  spans: readonly JsonSpan[],
): { keys: string[]; starts: Float64Array; lengths: Float64Array; order: number[] } {
  const order = names.map((_, i) => i).sort((a, b) => compare(names[a] as string, names[b] as string));
  return {
    order,
    keys: order.map((i) => names[i] as string),
    starts: Float64Array.from(order, (i) => (spans[i] as JsonSpan).start),
    lengths: Float64Array.from(order, (i) => (spans[i] as JsonSpan).length),
  };
}

function yamlSnapshot(key: string, dir: ParsedDirectory): Snapshot {
  const sorted = [...dir.users].sort((a, b) => compare(lower(a.username), lower(b.username)));
  return {
    key,
    keys: sorted.map((u) => lower(u.username)),
    ...groupIndex(dir.groups),
    idPositions: idIndex(sorted.map((u) => u.id)),
    users: async (positions) => positions.flatMap((p) => sorted[p] ?? []),
  };
}

/** Explicit ids (by sorted position) → positions; users without an id are found by username. */
function idIndex(idsBySortedPosition: readonly (string | undefined)[]): Map<string, number | number[]> {
  const index = new Map<string, number | number[]>();
  idsBySortedPosition.forEach((id, position) => {
    if (id === undefined) return;
    const seen = index.get(id);
    if (seen === undefined) index.set(id, position);
    else index.set(id, typeof seen === 'number' ? [seen, position] : [...seen, position]);
  });
  return index;
}

function groupIndex(fileGroups: readonly z.output<typeof FileGroupSchema>[]): Pick<Snapshot, 'groups' | 'groupRef'> {
  const groups: StoreGroup[] = fileGroups.map((g) => ({
    externalId: g.id ?? g.name,
    name: g.name,
    ...(g.description !== undefined ? { description: g.description } : {}),
  }));
  const groupRef = new Map<string, string>();
  for (const g of groups) groupRef.set(lower(g.name), g.externalId);
  for (const g of groups) groupRef.set(g.externalId, g.externalId);
  // Parents resolve like a user's groups: by id, then by name; unknown names are left out.
  fileGroups.forEach((g, i) => {
    const parents = [...new Set((g.groups ?? []).map((ref) => groupRef.get(ref) ?? groupRef.get(lower(ref))).filter((id): id is string => id !== undefined))];
    if (parents.length > 0) groups[i] = { ...groups[i]!, groupIds: parents };
  });
  return { groups, groupRef };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first key that sorts after `after`. */
function firstAfter(keys: readonly string[], after: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Position of `key` in the sorted keys, or -1. */
function indexOf(keys: readonly string[], key: string): number {
  const i = firstAfter(keys, key) - 1;
  return i >= 0 && keys[i] === key ? i : -1;
}

/** Filter attributes: raw `attributes` first, then the normalised fields by name. */
function fileAttribute(u: FileUser, attr: string, groupIds: () => string[]): string | string[] | undefined {
  if (Object.hasOwn(u.attributes, attr)) return u.attributes[attr];
  switch (attr) {
    case 'externalId':
      return u.id ?? u.username;
    case 'groupIds':
      return groupIds();
    case 'username':
      return u.username;
    case 'email':
      return u.email;
    case 'phones':
      return u.phones;
    case 'givenName':
      return u.givenName;
    case 'familyName':
      return u.familyName;
    case 'displayName':
      return u.displayName;
    case 'enabled':
      return String(u.enabled);
    case 'groups':
      return u.groups;
    default:
      return undefined;
  }
}
