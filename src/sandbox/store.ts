/**
 * The sandbox's Duo account data and Duo's rules about it: users (case-insensitive unique usernames
 * and aliases), groups, phones, administrators, memberships, one-to-many limits, and the JSON shapes
 * Duo returns. Indexed with Maps so 100k users page and look up in constant time; HTTP, signing and
 * faults live in server.ts. Errors are thrown as ApiFailure carrying Duo's code.
 *
 * Trash: a user sent to Trash keeps its data, names and memberships but shows status
 * `pending deletion` until it is restored or, `trashRetentionDays` after it was trashed (on the
 * store's clock), purged for good. Listings and lookups still return trashed users (that is where
 * Duo shows the status), and their usernames stay taken until the purge.
 */
import { z } from 'zod';
import { emailProblem, usernameProblem } from '../domain/duo-rules';
import { duoId, type Random } from './random';

export class ApiFailure extends Error {
  override readonly name = 'ApiFailure';
  constructor(
    readonly code: number,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
  get httpStatus(): number {
    return Math.floor(this.code / 100);
  }
}

export const invalidParam = (name: string): ApiFailure => new ApiFailure(40002, 'Invalid request parameters', name);
export const missingParam = (name: string): ApiFailure => new ApiFailure(40001, 'Missing required request parameters', name);
export const duplicate = (name: string): ApiFailure => new ApiFailure(40003, 'Duplicate resource', name);
export const notFound = (): ApiFailure => new ApiFailure(40401, 'Resource not found');
/** Duo answers one-to-many limit violations with a generic 500 (duo.com/docs/rate-limits). */
export const limitExceeded = (): ApiFailure => new ApiFailure(50001, 'Unknown internal server error');

/** Insertion-ordered collection with offset paging; the id array is rebuilt lazily after deletes only. */
export class Ordered<T> {
  private readonly byId = new Map<string, T>();
  private order: string[] = [];
  private stale = false;

  get size(): number {
    return this.byId.size;
  }
  get(id: string): T | undefined {
    return this.byId.get(id);
  }
  has(id: string): boolean {
    return this.byId.has(id);
  }
  set(id: string, value: T): void {
    if (!this.byId.has(id) && !this.stale) this.order.push(id);
    this.byId.set(id, value);
  }
  delete(id: string): boolean {
    const removed = this.byId.delete(id);
    if (removed) this.stale = true;
    return removed;
  }
  values(): IterableIterator<T> {
    return this.byId.values();
  }
  keys(): IterableIterator<string> {
    return this.byId.keys();
  }
  slice(offset: number, limit: number): T[] {
    if (this.stale) {
      this.order = [...this.byId.keys()];
      this.stale = false;
    }
    const out: T[] = [];
    const end = Math.min(offset + limit, this.order.length);
    for (let i = offset; i < end; i++) {
      const v = this.byId.get(this.order[i] as string);
      if (v !== undefined) out.push(v);
    }
    return out;
  }
}

export type UserStatus = 'active' | 'bypass' | 'disabled' | 'locked out' | 'pending deletion';
/** Statuses a user can have outside Trash. */
export type LiveUserStatus = Exclude<UserStatus, 'pending deletion'>;
const SETTABLE_USER_STATUS = new Set(['active', 'bypass', 'disabled']);
const GROUP_STATUS: Record<string, string> = { active: 'Active', bypass: 'Bypass', disabled: 'Disabled' };
/** Duo allows up to 8 aliases per user; alias1..alias4 are also returned as their own fields. */
export const MAX_ALIASES = 8;

export interface UserRecord {
  user_id: string;
  username: string;
  realname: string;
  firstname: string;
  lastname: string;
  email: string;
  notes: string;
  status: UserStatus;
  /** Index i holds alias(i+1); '' = unset. */
  aliases: string[];
  created: number;
  last_login: number | null;
  groupIds: Set<string>;
  phoneIds: Set<string>;
  /** When the user was sent to Trash (ms on the store clock); null when not in Trash. */
  trashedAt: number | null;
  /** The status a restore gives back. */
  statusBeforeTrash: LiveUserStatus | null;
  /**
   * Set for users Duo's own directory sync manages (Azure AD, AD/LDAP sync): when it last synced
   * them (unix s), and the directory's id for them. Their synced fields cannot be changed through
   * the Admin API (see `directoryFieldRefusal`).
   */
  directory: { lastSync: number; externalId: string } | null;
}

/** Fields Duo's directory sync writes on the users it manages: the Admin API may not change them. */
export const DIRECTORY_SYNCED_FIELDS = ['username', 'realname', 'firstname', 'lastname', 'email', 'alias1', 'alias2', 'alias3', 'alias4', 'aliases'] as const;

export interface GroupRecord {
  group_id: string;
  name: string;
  desc: string;
  status: string;
  members: Ordered<string>;
}

export interface PhoneRecord {
  phone_id: string;
  number: string;
  extension: string;
  name: string;
  type: string;
  platform: string;
  userIds: Set<string>;
}

export interface AdminRecord {
  admin_id: string;
  email: string;
  name: string;
  phone: string;
  role: string;
  status: string;
  created: number;
  last_login: number | null;
  restricted_by_admin_units: boolean;
  password_change_required: boolean;
}

export interface StoreLimits {
  phonesPerUser: number;
  groupsPerUser: number;
  usersPerPhone: number;
  /** Duo documents no maximum for `notes`; set one to exercise long ownership markers. */
  notesMaxLength: number | undefined;
  /** Days a user stays in Trash before it is purged (Duo: 7). */
  trashRetentionDays: number;
}

export const DEFAULT_LIMITS: StoreLimits = { phonesPerUser: 100, groupsPerUser: 100, usersPerPhone: 100, notesMaxLength: undefined, trashRetentionDays: 7 };
const DAY_MS = 86_400_000;

export type Params = ReadonlyMap<string, string>;

const ADMIN_ROLES = new Set(['Owner', 'Administrator', 'Application Manager', 'User Manager', 'Help Desk', 'Billing', 'Phishing Manager', 'Read-only']);
const PHONE_TYPES: Record<string, string> = { unknown: 'Unknown', mobile: 'Mobile', landline: 'Landline' };
const PHONE_PLATFORMS: Record<string, string> = {
  unknown: 'Unknown',
  'google android': 'Google Android',
  'apple ios': 'Apple iOS',
  'windows phone 7': 'Windows Phone',
  'windows phone': 'Windows Phone',
  'rim blackberry': 'RIM BlackBerry',
  'java j2me': 'Java J2ME',
  'palm webos': 'Palm WebOS',
  'symbian os': 'Symbian OS',
  'windows mobile': 'Windows Mobile',
  'generic smartphone': 'Generic Smartphone',
};
export class DuoStore {
  readonly users = new Ordered<UserRecord>();
  readonly groups = new Ordered<GroupRecord>();
  readonly phones = new Ordered<PhoneRecord>();
  readonly admins = new Ordered<AdminRecord>();
  /**
   * Misbehaviour switches for tests: `usersNextOffsetStuck` answers user listings with a
   * `next_offset` equal to the requested offset (a server that never advances).
   */
  readonly quirks = { usersNextOffsetStuck: false };
  /**
   * Duo's administrator rules. Duo refuses to disable an Owner, and to restrict one by
   * administrative units (its API documentation says so; the exact error is not documented, so the
   * sandbox answers 400 40002 naming the parameter). `ownersCanBeDisabled: true` lifts the first
   * refusal, to test behaviour against a Duo that would allow it.
   */
  readonly adminPolicy = { ownersCanBeDisabled: false };
  /** Lower-cased username or alias → user id. */
  private readonly names = new Map<string, string>();
  private readonly groupNames = new Map<string, string>();
  /** number + '\0' + extension → phone id. */
  private readonly phoneNumbers = new Map<string, string>();
  /** Ids of trashed users → when they were trashed, so a purge never scans every user. */
  private readonly trash = new Map<string, number>();

  constructor(
    private readonly random: Random,
    readonly limits: StoreLimits = DEFAULT_LIMITS,
    private readonly clock: () => number = Date.now,
  ) {}

  private nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }

  private newId(prefix: 'DU' | 'DG' | 'DP' | 'DE', taken: (id: string) => boolean): string {
    for (;;) {
      const id = duoId(this.random, prefix);
      if (!taken(id)) return id;
    }
  }

  /* ---------------- users ---------------- */

  findUserIdByName(name: string): string | undefined {
    return this.names.get(name.toLowerCase());
  }

  getUser(id: string): UserRecord {
    const u = this.users.get(id);
    if (!u) throw notFound();
    return u;
  }

  createUser(p: Params): UserRecord {
    const username = p.get('username');
    if (username === undefined || username.trim() === '') throw missingParam('username');
    if (usernameProblem(username) !== null) throw invalidParam('username');
    const user: UserRecord = {
      user_id: this.newId('DU', (id) => this.users.has(id)),
      username,
      realname: '',
      firstname: '',
      lastname: '',
      email: '',
      notes: '',
      status: 'active',
      aliases: new Array<string>(MAX_ALIASES).fill(''),
      created: this.nowSeconds(),
      last_login: null,
      groupIds: new Set(),
      phoneIds: new Set(),
      trashedAt: null,
      statusBeforeTrash: null,
      directory: null,
    };
    this.applyUserParams(user, p);
    this.users.set(user.user_id, user);
    this.indexNames(user);
    return user;
  }

  modifyUser(id: string, p: Params): UserRecord {
    const user = this.getUser(id);
    const refused = directoryFieldRefusal(user, p);
    if (refused) throw refused;
    const copy: UserRecord = { ...user, aliases: [...user.aliases] };
    const newName = p.get('username');
    if (newName !== undefined) {
      if (usernameProblem(newName) !== null) throw invalidParam('username');
      copy.username = newName;
    }
    this.applyUserParams(copy, p);
    if (user.trashedAt !== null) {
      // Duo answers a modify of a trashed user with 200 but leaves it in Trash; a new status applies on restore.
      copy.statusBeforeTrash = copy.status === 'pending deletion' ? user.statusBeforeTrash : copy.status;
      copy.status = 'pending deletion';
    }
    this.unindexNames(user);
    Object.assign(user, copy);
    this.indexNames(user);
    return user;
  }

  /** Marks a user as managed by Duo's directory sync (how the sandbox seeds such users; Duo has no API for it). */
  markDirectorySynced(id: string, externalId: string, lastSync = this.nowSeconds()): UserRecord {
    const user = this.getUser(id);
    user.directory = { lastSync, externalId };
    return user;
  }

  /** Sends a user to Trash (idempotent: a trashed user keeps its original trash time). */
  sendToTrash(id: string): UserRecord {
    const user = this.getUser(id);
    if (user.trashedAt !== null) return user;
    user.statusBeforeTrash = user.status === 'pending deletion' ? 'active' : user.status;
    user.status = 'pending deletion';
    user.trashedAt = this.clock();
    this.trash.set(id, user.trashedAt);
    return user;
  }

  /** Restores a trashed user with the status it had (idempotent: a user not in Trash is left as it is). */
  restoreFromTrash(id: string): UserRecord {
    const user = this.getUser(id);
    if (user.trashedAt === null) return user;
    user.status = user.statusBeforeTrash ?? 'active';
    user.statusBeforeTrash = null;
    user.trashedAt = null;
    this.trash.delete(id);
    return user;
  }

  /** Deletes every user trashed at least `trashRetentionDays` ago; returns their ids. */
  purgeExpiredTrash(): string[] {
    const cutoff = this.clock() - this.limits.trashRetentionDays * DAY_MS;
    const purged: string[] = [];
    for (const [id, trashedAt] of this.trash) {
      if (trashedAt <= cutoff) purged.push(id);
    }
    for (const id of purged) this.deleteUser(id);
    return purged;
  }

  get trashSize(): number {
    return this.trash.size;
  }

  deleteUser(id: string): void {
    const user = this.users.get(id);
    if (!user) return;
    for (const gid of user.groupIds) this.groups.get(gid)?.members.delete(id);
    // Duo keeps phones when their user is deleted; only the association goes.
    for (const pid of user.phoneIds) this.phones.get(pid)?.userIds.delete(id);
    this.unindexNames(user);
    this.users.delete(id);
    this.trash.delete(id);
  }

  private applyUserParams(user: UserRecord, p: Params): void {
    for (const field of ['realname', 'firstname', 'lastname', 'email', 'notes'] as const) {
      const v = p.get(field);
      if (v !== undefined) user[field] = v;
    }
    if (user.email !== '' && emailProblem(user.email) !== null) throw invalidParam('email');
    const max = this.limits.notesMaxLength;
    if (max !== undefined && user.notes.length > max) throw invalidParam('notes');
    const status = p.get('status');
    if (status !== undefined) {
      const s = status.toLowerCase();
      if (!SETTABLE_USER_STATUS.has(s)) throw invalidParam('status');
      user.status = s as UserStatus;
    }
    let aliasGiven = false;
    for (let i = 1; i <= MAX_ALIASES; i++) {
      const v = p.get(`alias${i}`);
      if (v !== undefined) {
        user.aliases[i - 1] = v;
        aliasGiven = true;
      }
    }
    const packed = p.get('aliases');
    // Duo ignores `aliases` when aliasN parameters are given.
    if (packed !== undefined && !aliasGiven) {
      const parsed = new URLSearchParams(packed);
      const next = new Array<string>(MAX_ALIASES).fill('');
      for (const [key, value] of parsed) {
        const m = /^alias([1-8])$/.exec(key);
        if (!m) throw invalidParam('aliases');
        next[Number(m[1]) - 1] = value;
      }
      user.aliases = next;
    }
    const seen = new Set<string>();
    for (const name of [user.username, ...user.aliases.filter((a) => a !== '')]) {
      const key = name.toLowerCase();
      if (seen.has(key)) throw invalidParam(name === user.username ? 'username' : 'aliases');
      seen.add(key);
      const owner = this.names.get(key);
      if (owner !== undefined && owner !== user.user_id) throw duplicate(name === user.username ? 'username' : 'alias');
    }
  }

  private indexNames(user: UserRecord): void {
    this.names.set(user.username.toLowerCase(), user.user_id);
    for (const a of user.aliases) if (a) this.names.set(a.toLowerCase(), user.user_id);
  }

  private unindexNames(user: UserRecord): void {
    for (const n of [user.username, ...user.aliases]) {
      if (n && this.names.get(n.toLowerCase()) === user.user_id) this.names.delete(n.toLowerCase());
    }
  }

  addUserToGroup(userId: string, groupId: string | undefined): void {
    const user = this.getUser(userId);
    if (groupId === undefined || groupId === '') throw missingParam('group_id');
    const group = this.groups.get(groupId);
    if (!group) throw invalidParam('group_id');
    if (user.groupIds.has(groupId)) return;
    if (user.groupIds.size >= this.limits.groupsPerUser) throw limitExceeded();
    user.groupIds.add(groupId);
    group.members.set(userId, userId);
  }

  removeUserFromGroup(userId: string, groupId: string): void {
    const user = this.getUser(userId);
    user.groupIds.delete(groupId);
    this.groups.get(groupId)?.members.delete(userId);
  }

  associatePhone(userId: string, phoneId: string | undefined): void {
    const user = this.getUser(userId);
    if (phoneId === undefined || phoneId === '') throw missingParam('phone_id');
    const phone = this.phones.get(phoneId);
    if (!phone) throw invalidParam('phone_id');
    if (user.phoneIds.has(phoneId)) return;
    if (user.phoneIds.size >= this.limits.phonesPerUser || phone.userIds.size >= this.limits.usersPerPhone) throw limitExceeded();
    user.phoneIds.add(phoneId);
    phone.userIds.add(userId);
  }

  disassociatePhone(userId: string, phoneId: string): void {
    const user = this.getUser(userId);
    user.phoneIds.delete(phoneId);
    this.phones.get(phoneId)?.userIds.delete(userId);
  }

  /* ---------------- groups ---------------- */

  getGroup(id: string): GroupRecord {
    const g = this.groups.get(id);
    if (!g) throw notFound();
    return g;
  }

  createGroup(p: Params): GroupRecord {
    const name = p.get('name');
    if (name === undefined || name.trim() === '') throw missingParam('name');
    if (this.groupNames.has(name.toLowerCase())) throw duplicate('name');
    const group: GroupRecord = { group_id: this.newId('DG', (id) => this.groups.has(id)), name, desc: p.get('desc') ?? '', status: 'Active', members: new Ordered() };
    const status = p.get('status');
    if (status !== undefined) group.status = groupStatus(status);
    this.groups.set(group.group_id, group);
    this.groupNames.set(name.toLowerCase(), group.group_id);
    return group;
  }

  modifyGroup(id: string, p: Params): GroupRecord {
    const group = this.getGroup(id);
    const name = p.get('name');
    const status = p.get('status');
    const nextStatus = status === undefined ? group.status : groupStatus(status);
    if (name !== undefined) {
      if (name.trim() === '') throw invalidParam('name');
      const owner = this.groupNames.get(name.toLowerCase());
      if (owner !== undefined && owner !== id) throw duplicate('name');
      this.groupNames.delete(group.name.toLowerCase());
      group.name = name;
      this.groupNames.set(name.toLowerCase(), id);
    }
    const desc = p.get('desc');
    if (desc !== undefined) group.desc = desc;
    group.status = nextStatus;
    return group;
  }

  deleteGroup(id: string): void {
    const group = this.groups.get(id);
    if (!group) return;
    for (const uid of group.members.keys()) this.users.get(uid)?.groupIds.delete(id);
    this.groupNames.delete(group.name.toLowerCase());
    this.groups.delete(id);
  }

  /* ---------------- phones ---------------- */

  getPhone(id: string): PhoneRecord {
    const ph = this.phones.get(id);
    if (!ph) throw notFound();
    return ph;
  }

  findPhone(number: string, extension = ''): PhoneRecord | undefined {
    const id = this.phoneNumbers.get(`${normalizeNumber(number) ?? number}\0${extension}`);
    return id === undefined ? undefined : this.phones.get(id);
  }

  createPhone(p: Params): PhoneRecord {
    const phone: PhoneRecord = { phone_id: this.newId('DP', (id) => this.phones.has(id)), number: '', extension: '', name: '', type: 'Unknown', platform: 'Unknown', userIds: new Set() };
    this.applyPhoneParams(phone, p);
    this.phones.set(phone.phone_id, phone);
    if (phone.number) this.phoneNumbers.set(`${phone.number}\0${phone.extension}`, phone.phone_id);
    return phone;
  }

  modifyPhone(id: string, p: Params): PhoneRecord {
    const phone = this.getPhone(id);
    const copy = { ...phone };
    this.applyPhoneParams(copy, p);
    this.phoneNumbers.delete(`${phone.number}\0${phone.extension}`);
    Object.assign(phone, copy);
    if (phone.number) this.phoneNumbers.set(`${phone.number}\0${phone.extension}`, phone.phone_id);
    return phone;
  }

  private applyPhoneParams(phone: PhoneRecord, p: Params): void {
    const number = p.get('number');
    if (number !== undefined) {
      if (number === '') phone.number = '';
      else {
        const n = normalizeNumber(number);
        if (n === undefined) throw invalidParam('number');
        phone.number = n;
      }
    }
    const ext = p.get('extension');
    if (ext !== undefined) phone.extension = ext;
    const name = p.get('name');
    if (name !== undefined) phone.name = name;
    const type = p.get('type');
    if (type !== undefined) {
      const t = PHONE_TYPES[type.toLowerCase()];
      if (!t) throw invalidParam('type');
      phone.type = t;
    }
    const platform = p.get('platform');
    if (platform !== undefined) {
      const pl = PHONE_PLATFORMS[platform.toLowerCase()];
      if (!pl) throw invalidParam('platform');
      phone.platform = pl;
    }
    const owner = phone.number ? this.phoneNumbers.get(`${phone.number}\0${phone.extension}`) : undefined;
    if (owner !== undefined && owner !== phone.phone_id) throw duplicate('number');
  }

  deletePhone(id: string): void {
    const phone = this.phones.get(id);
    if (!phone) return;
    for (const uid of phone.userIds) this.users.get(uid)?.phoneIds.delete(id);
    this.phoneNumbers.delete(`${phone.number}\0${phone.extension}`);
    this.phones.delete(id);
  }

  /* ---------------- administrators ---------------- */

  getAdmin(id: string): AdminRecord {
    const a = this.admins.get(id);
    if (!a) throw notFound();
    return a;
  }

  createAdmin(p: Params): AdminRecord {
    const email = p.get('email');
    const name = p.get('name');
    if (!email) throw missingParam('email');
    if (!name) throw missingParam('name');
    if (emailProblem(email) !== null) throw invalidParam('email');
    const lower = email.toLowerCase();
    for (const a of this.admins.values()) if (a.email.toLowerCase() === lower) throw duplicate('email');
    const role = p.get('role') ?? 'Owner';
    if (!ADMIN_ROLES.has(role)) throw invalidParam('role');
    const phone = p.get('phone');
    if (phone === '') throw invalidParam('phone');
    const sendEmail = p.get('send_email');
    if (sendEmail !== undefined && sendEmail !== '0' && sendEmail !== '1') throw invalidParam('send_email');
    const admin: AdminRecord = {
      admin_id: this.newId('DE', (id) => this.admins.has(id)),
      email,
      name,
      phone: phone ?? '',
      role,
      status: 'Active',
      created: this.nowSeconds(),
      last_login: null,
      restricted_by_admin_units: false,
      password_change_required: false,
    };
    this.admins.set(admin.admin_id, admin);
    return admin;
  }

  modifyAdmin(id: string, p: Params): AdminRecord {
    const admin = this.getAdmin(id);
    const copy = { ...admin };
    const name = p.get('name');
    if (name !== undefined) {
      if (name === '') throw invalidParam('name');
      copy.name = name;
    }
    const phone = p.get('phone');
    if (phone !== undefined) copy.phone = phone;
    const role = p.get('role');
    if (role !== undefined) {
      if (!ADMIN_ROLES.has(role)) throw invalidParam('role');
      copy.role = role;
    }
    const status = p.get('status');
    if (status !== undefined) {
      if (status !== 'Active' && status !== 'Disabled') throw invalidParam('status');
      // Duo refuses to disable an Owner through the API.
      if (status === 'Disabled' && copy.role === 'Owner' && !this.adminPolicy.ownersCanBeDisabled) throw invalidParam('status');
      copy.status = status;
    }
    const restricted = p.get('restricted_by_admin_units');
    if (restricted !== undefined) {
      if (restricted !== 'true' && restricted !== 'false') throw invalidParam('restricted_by_admin_units');
      // An Owner cannot be restricted to administrative units.
      if (restricted === 'true' && copy.role === 'Owner') throw invalidParam('restricted_by_admin_units');
      copy.restricted_by_admin_units = restricted === 'true';
    }
    Object.assign(admin, copy);
    return admin;
  }

  deleteAdmin(id: string): void {
    this.admins.delete(id);
  }

  /* ---------------- JSON shapes Duo returns ---------------- */

  groupJson(g: GroupRecord): Record<string, unknown> {
    return { group_id: g.group_id, name: g.name, desc: g.desc, status: g.status, push_enabled: true, sms_enabled: true, voice_enabled: true, mobile_otp_enabled: true };
  }

  phoneJson(ph: PhoneRecord, withUsers = true): Record<string, unknown> {
    const out: Record<string, unknown> = {
      phone_id: ph.phone_id,
      number: ph.number,
      extension: ph.extension,
      name: ph.name,
      type: ph.type,
      platform: ph.platform,
      model: 'Unknown',
      activated: false,
      capabilities: ph.type === 'Landline' ? ['phone'] : ['phone', 'sms'],
      sms_passcodes_sent: false,
      last_seen: '',
      encrypted: '',
      fingerprint: '',
      screenlock: '',
      tampered: '',
      predelay: null,
      postdelay: null,
    };
    if (withUsers) {
      out['users'] = [...ph.userIds].flatMap((uid) => {
        const u = this.users.get(uid);
        return u ? [this.userSummaryJson(u)] : [];
      });
    }
    return out;
  }

  userSummaryJson(u: UserRecord): Record<string, unknown> {
    return { user_id: u.user_id, username: u.username, realname: u.realname, email: u.email, status: u.status };
  }

  userJson(u: UserRecord): Record<string, unknown> {
    const aliases: Record<string, string> = {};
    u.aliases.forEach((a, i) => {
      if (a) aliases[`alias${i + 1}`] = a;
    });
    const groups = [...u.groupIds].flatMap((gid) => {
      const g = this.groups.get(gid);
      return g ? [this.groupJson(g)] : [];
    });
    const phones = [...u.phoneIds].flatMap((pid) => {
      const ph = this.phones.get(pid);
      return ph ? [this.phoneJson(ph, false)] : [];
    });
    return {
      user_id: u.user_id,
      username: u.username,
      realname: u.realname,
      firstname: u.firstname,
      lastname: u.lastname,
      email: u.email,
      notes: u.notes,
      status: u.status,
      alias1: u.aliases[0] || null,
      alias2: u.aliases[1] || null,
      alias3: u.aliases[2] || null,
      alias4: u.aliases[3] || null,
      aliases,
      created: u.created,
      last_login: u.last_login,
      last_directory_sync: u.directory?.lastSync ?? null,
      ...(u.directory ? { external_id: u.directory.externalId } : {}),
      is_enrolled: phones.length > 0,
      lockout_reason: null,
      enable_auto_prompt: true,
      groups,
      phones,
      tokens: [],
      u2ftokens: [],
      webauthncredentials: [],
      desktoptokens: [],
    };
  }

  adminJson(a: AdminRecord): Record<string, unknown> {
    return { ...a, admin_units: [] };
  }

  /* ---------------- persistence ---------------- */

  exportState(): SandboxState {
    return {
      version: 1,
      users: [...this.users.values()].map((u) => ({
        user_id: u.user_id,
        username: u.username,
        realname: u.realname,
        firstname: u.firstname,
        lastname: u.lastname,
        email: u.email,
        notes: u.notes,
        status: u.status,
        aliases: u.aliases.filter((a) => a !== '').length ? [...u.aliases] : [],
        created: u.created,
        last_login: u.last_login,
        group_ids: [...u.groupIds],
        phone_ids: [...u.phoneIds],
        ...(u.trashedAt === null ? {} : { trashed_at: u.trashedAt, status_before_trash: u.statusBeforeTrash ?? 'active' }),
        ...(u.directory ? { directory: { ...u.directory } } : {}),
      })),
      groups: [...this.groups.values()].map((g) => ({ group_id: g.group_id, name: g.name, desc: g.desc, status: g.status })),
      phones: [...this.phones.values()].map((ph) => ({ phone_id: ph.phone_id, number: ph.number, extension: ph.extension, name: ph.name, type: ph.type, platform: ph.platform })),
      admins: [...this.admins.values()].map((a) => ({ ...a })),
    };
  }

  /** Replaces all data with a saved state (validated; indexes rebuilt). */
  importState(input: unknown): void {
    const state = SandboxStateSchema.parse(input);
    this.clear();
    for (const g of state.groups) {
      this.groups.set(g.group_id, { ...g, members: new Ordered() });
      this.groupNames.set(g.name.toLowerCase(), g.group_id);
    }
    for (const ph of state.phones) {
      this.phones.set(ph.phone_id, { ...ph, userIds: new Set() });
      if (ph.number) this.phoneNumbers.set(`${ph.number}\0${ph.extension}`, ph.phone_id);
    }
    for (const s of state.users) {
      const aliases = new Array<string>(MAX_ALIASES).fill('');
      s.aliases.forEach((a, i) => {
        if (i < MAX_ALIASES) aliases[i] = a;
      });
      const user: UserRecord = {
        user_id: s.user_id,
        username: s.username,
        realname: s.realname,
        firstname: s.firstname,
        lastname: s.lastname,
        email: s.email,
        notes: s.notes,
        status: s.status,
        aliases,
        created: s.created,
        last_login: s.last_login,
        groupIds: new Set(),
        phoneIds: new Set(),
        // A pending-deletion user saved without a trash time (older state files) starts its 7 days now.
        trashedAt: s.trashed_at ?? (s.status === 'pending deletion' ? this.clock() : null),
        statusBeforeTrash: s.status_before_trash ?? (s.status === 'pending deletion' ? 'active' : null),
        directory: s.directory ?? null,
      };
      if (user.trashedAt !== null) {
        user.status = 'pending deletion';
        this.trash.set(user.user_id, user.trashedAt);
      }
      this.users.set(user.user_id, user);
      this.indexNames(user);
      for (const gid of s.group_ids) {
        const g = this.groups.get(gid);
        if (!g) continue;
        user.groupIds.add(gid);
        g.members.set(user.user_id, user.user_id);
      }
      for (const pid of s.phone_ids) {
        const ph = this.phones.get(pid);
        if (!ph) continue;
        user.phoneIds.add(pid);
        ph.userIds.add(user.user_id);
      }
    }
    for (const a of state.admins) this.admins.set(a.admin_id, { ...a });
  }

  clear(): void {
    for (const id of [...this.users.keys()]) this.users.delete(id);
    for (const id of [...this.groups.keys()]) this.groups.delete(id);
    for (const id of [...this.phones.keys()]) this.phones.delete(id);
    for (const id of [...this.admins.keys()]) this.admins.delete(id);
    this.names.clear();
    this.groupNames.clear();
    this.phoneNumbers.clear();
    this.trash.clear();
  }
}

/**
 * A modify that would change a field directory sync owns on a directory-synced user: Duo refuses it
 * (the directory would overwrite it at its next sync). Duo documents no dedicated code for this; the
 * sandbox answers like any refused parameter (400, code 40002, the field in `message_detail`).
 * Sending a field unchanged is accepted.
 */
export function directoryFieldRefusal(user: UserRecord, p: Params): ApiFailure | undefined {
  if (!user.directory) return undefined;
  const current: Record<string, string> = { username: user.username, realname: user.realname, firstname: user.firstname, lastname: user.lastname, email: user.email };
  for (const field of DIRECTORY_SYNCED_FIELDS) {
    const v = p.get(field);
    if (v === undefined) continue;
    const alias = /^alias([1-4])$/.exec(field);
    const now = field === 'aliases' ? undefined : alias ? user.aliases[Number(alias[1]) - 1] : current[field];
    if (now !== undefined && (field === 'email' ? now.toLowerCase() === v.toLowerCase() : now === v)) continue;
    return new ApiFailure(40002, 'Invalid request parameters', `${field} is managed by directory sync and cannot be changed through the Admin API`);
  }
  return undefined;
}

function groupStatus(value: string): string {
  const s = GROUP_STATUS[value.toLowerCase()];
  if (!s) throw invalidParam('status');
  return s;
}

/** Duo: E.164 recommended; without a leading + a US number is assumed; spaces, dashes, dots, parentheses ignored. */
export function normalizeNumber(input: string): string | undefined {
  const stripped = input.replace(/[\s\-().]/g, '');
  const withPlus = stripped.startsWith('+') ? stripped : `+1${stripped}`;
  return /^\+\d{7,15}$/.test(withPlus) ? withPlus : undefined;
}

const SavedUserSchema = z.object({
  user_id: z.string().min(1),
  username: z.string().min(1),
  realname: z.string(),
  firstname: z.string(),
  lastname: z.string(),
  email: z.string(),
  notes: z.string(),
  status: z.enum(['active', 'bypass', 'disabled', 'locked out', 'pending deletion']),
  aliases: z.array(z.string()).max(MAX_ALIASES),
  created: z.number(),
  last_login: z.number().nullable(),
  group_ids: z.array(z.string()),
  phone_ids: z.array(z.string()),
  /** Present only for users in Trash (ms on the sandbox clock). */
  trashed_at: z.number().optional(),
  status_before_trash: z.enum(['active', 'bypass', 'disabled', 'locked out']).optional(),
  /** Present only for users Duo's directory sync manages. */
  directory: z.object({ lastSync: z.number(), externalId: z.string() }).optional(),
});

export const SandboxStateSchema = z.object({
  version: z.literal(1),
  users: z.array(SavedUserSchema),
  groups: z.array(z.object({ group_id: z.string().min(1), name: z.string().min(1), desc: z.string(), status: z.string() })),
  phones: z.array(z.object({ phone_id: z.string().min(1), number: z.string(), extension: z.string(), name: z.string(), type: z.string(), platform: z.string() })),
  admins: z.array(
    z.object({
      admin_id: z.string().min(1),
      email: z.string(),
      name: z.string(),
      phone: z.string(),
      role: z.string(),
      status: z.string(),
      created: z.number(),
      last_login: z.number().nullable(),
      restricted_by_admin_units: z.boolean(),
      password_change_required: z.boolean(),
    }),
  ),
});
export type SandboxState = z.infer<typeof SandboxStateSchema>;
