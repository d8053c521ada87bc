/**
 * Test data: a company-like, messy OpenLDAP directory as LDIF, with what duo-sync should make of
 * every entry. At least 1,000 inetOrgPerson users in two OUs (ou=london and ou=berlin under
 * ou=people) carry phones in a dozen national and international formats (extensions, `tel:` URIs,
 * trunk prefixes, both `telephoneNumber` and `mobile`, multi-valued `mobile`), non-ASCII names,
 * hostile uids, invalid emails, and accounts disabled by `employeeType` (odd case and spacing,
 * multi-valued) or by `pwdAccountLockedTime` (an operational attribute of the ppolicy overlay's
 * schema, loaded by test/support/openldap.ts).
 *
 * The expectations are written down here, by kind of entry, independently of the code under test:
 * each phone's E.164 number is the country code plus the national significant number the entry
 * was built from. Deterministic: the same call gives the same directory.
 */
import type { DesiredPhone } from '../../src/domain/mapping';
import { escapeDnValue, LDAP_GROUPS_DN, LDAP_SUFFIX, LDAP_USERS_DN } from './openldap';

export const MESSY_OUS = ['london', 'berlin'] as const;
export type MessyOu = (typeof MESSY_OUS)[number];

/** The rule the expectations assume: numbers without a country code are British. */
export const MESSY_PHONE_REGION = 'GB';
/** `pwdAccountLockedTime` of an account an administrator locked for good (ppolicy's "permanently locked" value). */
export const PERMANENT_LOCK = '000001010000Z';

/** Which disabled-account conventions say this entry is disabled. */
export interface DisabledBy {
  /** `employeeType` holds "disabled" in any value (LDAP equality: case and surrounding/doubled spaces ignored). */
  employeeTypeAny: boolean;
  /** The first `employeeType` value is "disabled". */
  employeeTypeFirst: boolean;
  /** `pwdAccountLockedTime` is the permanent-lock value. */
  permanentLock: boolean;
}

export interface MessyExpectation {
  /** The Duo username the mapping gives (when it does not fail). */
  username: string;
  /** The exact message of the per-user mapping failure of an enabled user. */
  failure?: string;
  /** The mapped phone; `unread` when the phone fails (then `phoneProblem` is the message, for enabled users). */
  phone: DesiredPhone | null | 'unread';
  phoneProblem?: string;
  /** The mapped email of an enabled user (a disabled user's invalid email maps to null). */
  email: string | null;
  realname: string | null;
  disabledBy: DisabledBy;
}

export interface MessyEntry {
  kind: string;
  ou: MessyOu;
  /** The uid as stored (hostile ones included). */
  uid: string;
  dn: string;
  attributes: Record<string, string[]>;
  expect: MessyExpectation;
}

export interface MessyDirectory {
  ldif: string;
  entries: MessyEntry[];
  /** Users live under this DN (the two OUs are below it). */
  usersDn: string;
  groupsDn: string;
}

const ENABLED: DisabledBy = { employeeTypeAny: false, employeeTypeFirst: false, permanentLock: false };
const PROVISIONED_WITHOUT = 'provisioned without this phone (its Duo phones are left as they are): fix the number in the directory';

/** LDIF value: base64 (`::`) when it is not a SAFE-STRING per RFC 2849 (or ends with a space). */
function ldifLine(attr: string, value: string): string {
  const safe = /^[\x01-\x09\x0b-\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b-\x0c\x0e-\x7f]*$/.test(value) && !value.endsWith(' ');
  return safe ? `${attr}: ${value}` : `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

interface PhoneCase {
  kind: string;
  attribute: 'mobile' | 'telephoneNumber';
  /** The value as the directory holds it, for subscriber variation n (0..999). */
  written: (n: number) => string;
  expected: (n: number) => DesiredPhone;
}

const landline = (number: string, extension?: string): DesiredPhone => ({ number, ...(extension ? { extension } : {}), type: 'landline' });
const mobile = (number: string, extension?: string): DesiredPhone => ({ number, ...(extension ? { extension } : {}), type: 'mobile' });

/** A dozen formats: national (with the rule's region), international, trunk prefixes, extensions, tel: URIs. */
const PHONE_CASES: PhoneCase[] = [
  { kind: 'phone: GB national landline', attribute: 'telephoneNumber', written: (n) => `020 7946 0${pad(n, 3)}`, expected: (n) => landline(`+442079460${pad(n, 3)}`) },
  { kind: 'phone: GB national mobile', attribute: 'mobile', written: (n) => `07700 900${pad(n, 3)}`, expected: (n) => mobile(`+447700900${pad(n, 3)}`) },
  { kind: 'phone: international with (0) trunk prefix', attribute: 'telephoneNumber', written: (n) => `+49 (0)30 9009 0${pad(n, 3)}`, expected: (n) => landline(`+493090090${pad(n, 3)}`) },
  { kind: 'phone: GB trunk prefix in parentheses', attribute: 'mobile', written: (n) => `+44 (0)7700 900${pad(n, 3)}`, expected: (n) => mobile(`+447700900${pad(n, 3)}`) },
  { kind: 'phone: North American with dashes', attribute: 'mobile', written: (n) => `+1-415-555-0${pad(n % 100, 3)}`, expected: (n) => mobile(`+14155550${pad(n % 100, 3)}`) },
  { kind: 'phone: North American with parentheses', attribute: 'telephoneNumber', written: (n) => `+1 (415) 555-0${pad(n % 100, 3)}`, expected: (n) => landline(`+14155550${pad(n % 100, 3)}`) },
  { kind: 'phone: French with dots', attribute: 'telephoneNumber', written: (n) => `+33.1.42.68.5${n % 10}.${pad(n % 100, 2)}`, expected: (n) => landline(`+33142685${n % 10}${pad(n % 100, 2)}`) },
  { kind: 'phone: international prefix 00 (dialled from GB)', attribute: 'telephoneNumber', written: (n) => `0049 30 9009 0${pad(n, 3)}`, expected: (n) => landline(`+493090090${pad(n, 3)}`) },
  { kind: 'phone: compact E.164', attribute: 'mobile', written: (n) => `+447700900${pad(n, 3)}`, expected: (n) => mobile(`+447700900${pad(n, 3)}`) },
  { kind: 'phone: no-break spaces', attribute: 'telephoneNumber', written: (n) => `020\u00a07946\u00a00${pad(n, 3)}`, expected: (n) => landline(`+442079460${pad(n, 3)}`) },
  { kind: 'phone: extension x', attribute: 'telephoneNumber', written: (n) => `020 7946 0${pad(n, 3)} x${200 + (n % 50)}`, expected: (n) => landline(`+442079460${pad(n, 3)}`, String(200 + (n % 50))) },
  { kind: 'phone: extension ext.', attribute: 'telephoneNumber', written: (n) => `+44 20 7946 0${pad(n, 3)} ext. ${n % 90 + 10}`, expected: (n) => landline(`+442079460${pad(n, 3)}`, String((n % 90) + 10)) },
  { kind: 'phone: tel: URI', attribute: 'mobile', written: (n) => `tel:+44-7700-900-${pad(n, 3)}`, expected: (n) => mobile(`+447700900${pad(n, 3)}`) },
  { kind: 'phone: tel: URI with ;ext=', attribute: 'telephoneNumber', written: (n) => `tel:+1-415-555-0${pad(n % 100, 3)};ext=${n % 9 + 1}`, expected: (n) => landline(`+14155550${pad(n % 100, 3)}`, String((n % 9) + 1)) },
];

interface Spec {
  kind: string;
  uid: string;
  attributes?: Record<string, string[]>;
  expect?: Partial<MessyExpectation>;
}

function entry(spec: Spec, index: number): MessyEntry {
  const ou = MESSY_OUS[index % MESSY_OUS.length] as MessyOu;
  const attributes: Record<string, string[]> = { cn: [spec.uid.trim() || 'nameless'], sn: ['Person'], mail: [`user${index}@example.com`], ...spec.attributes };
  const username = spec.uid.trim();
  return {
    kind: spec.kind,
    ou,
    uid: spec.uid,
    dn: `uid=${escapeDnValue(spec.uid)},ou=${ou},${LDAP_USERS_DN}`,
    attributes,
    expect: {
      username,
      phone: null,
      email: attributes['mail']?.[0] ?? null,
      // The default realname mapping: displayName, else "givenName familyName" (familyName is sn).
      realname: attributes['displayName']?.[0] ?? ([attributes['givenName']?.[0], attributes['sn']?.[0]].filter(Boolean).join(' ') || null),
      disabledBy: ENABLED,
      ...spec.expect,
    },
  };
}

function specialSpecs(): Spec[] {
  const specs: Spec[] = [];
  // Both numbers: mobile wins and is a mobile; the desk number alone is a landline.
  specs.push({
    kind: 'phone: telephoneNumber and mobile (mobile wins)',
    uid: 'both.phones',
    attributes: { telephoneNumber: ['020 7946 0100'], mobile: ['07700 900100'] },
    expect: { phone: mobile('+447700900100') },
  });
  specs.push({
    kind: 'phone: multi-valued mobile (first value wins)',
    uid: 'two.mobiles',
    attributes: { mobile: ['07700 900201', '07700 900202'] },
    expect: { phone: mobile('+447700900201') },
  });
  // Unreadable phones: the user is provisioned, the phone fails with the input shown.
  for (const [uid, attribute, value, reason] of [
    ['short.number', 'telephoneNumber', '013-0481', 'cannot be read as a GB number (too few digits, or a trunk prefix where none belongs)'],
    ['words.number', 'mobile', 'ask reception', 'is not a phone number'],
    ['cut.number', 'mobile', '+44 20', 'is too short for a +44 number'],
  ] as const) {
    specs.push({
      kind: 'phone: unreadable',
      uid,
      attributes: { [attribute]: [value] },
      expect: { phone: 'unread', phoneProblem: `user ${uid}: ${attribute} "${value}" ${reason}; ${PROVISIONED_WITHOUT}` },
    });
  }
  // Non-ASCII names.
  for (const [uid, givenName, sn, displayName] of [
    ['zoe.angstrom', 'Zoë', 'Ångström', 'Zoë Ångström'],
    ['li.lei', '雷', '李', '李雷'],
    ['olafur', 'Ólafur', 'Ragnarsson', 'Ólafur Ragnarsson'],
    ['lukasz', 'Łukasz', 'Żółć', 'Łukasz Żółć'],
    ['sergei', 'Сергей', 'Иванов', 'Сергей Иванов'],
  ] as const) {
    specs.push({ kind: 'names: non-ASCII', uid, attributes: { givenName: [givenName], sn: [sn], displayName: [displayName], cn: [displayName] } });
  }
  // Hostile uids: filter and DN metacharacters are data; surrounding spaces are normalised away.
  for (const uid of ['a*)(uid=*', 'x,ou=evil', 'semi;colon', 'quote"d', '#hash', 'plus+sign', 'back\\slash', 'eq=ual', '<angle>', 'Ünïcode.Üser']) {
    specs.push({ kind: 'uid: hostile characters', uid });
  }
  specs.push({ kind: 'uid: surrounding spaces', uid: ' leading.space' });
  specs.push({ kind: 'uid: surrounding spaces', uid: 'trailing.space ' });
  specs.push({
    kind: 'uid: control character',
    uid: 'tab\tuid',
    expect: { failure: 'user tab\tuid: username "tab\\tuid" contains control characters or line breaks; Duo would refuse it: fix it in the directory' },
  });
  // Invalid emails fail the (enabled) user before any Duo call.
  for (const [uid, email, reason] of [
    ['mail.words', 'not-an-email', 'must contain exactly one "@"'],
    ['mail.double.at', 'two@@example.com', 'must contain exactly one "@"'],
    ['mail.space', 'space in@example.com', 'has a part before the "@" that is not letters, digits and !#$%&\'*+/=?^_`{|}~- separated by single dots'],
    ['mail.dot', 'trailing.dot.@example.com', 'has a part before the "@" that is not letters, digits and !#$%&\'*+/=?^_`{|}~- separated by single dots'],
    ['mail.nodomain', 'ops@localhost', 'has a domain that is not a host name such as example.com (internationalised domains in their xn-- form)'],
  ] as const) {
    specs.push({
      kind: 'email: invalid',
      uid,
      attributes: { mail: [email] },
      expect: { failure: `user ${uid}: email ${JSON.stringify(email)} ${reason}; Duo would refuse it: fix it in the directory` },
    });
  }
  // Disabled by employeeType, as people type it.
  const any = { ...ENABLED, employeeTypeAny: true };
  const both = { ...ENABLED, employeeTypeAny: true, employeeTypeFirst: true };
  for (const [uid, values, disabledBy] of [
    ['et.plain', ['disabled'], both],
    ['et.trailing', ['disabled '], both],
    ['et.upper', ['DISABLED'], both],
    ['et.padded', ['  Disabled  '], both],
    ['et.second', ['contractor', 'disabled'], any],
    ['et.first', ['disabled', 'contractor'], both],
    ['et.other', ['not disabled'], ENABLED],
    ['et.inner', ['dis abled'], ENABLED],
  ] as const) {
    specs.push({ kind: 'disabled: employeeType', uid, attributes: { employeeType: [...values] }, expect: { disabledBy } });
  }
  // Disabled by an administrator's permanent ppolicy lock; a timed lock (failed binds) is not "disabled".
  specs.push({ kind: 'disabled: pwdAccountLockedTime', uid: 'locked.for.good', attributes: { pwdAccountLockedTime: [PERMANENT_LOCK] }, expect: { disabledBy: { ...ENABLED, permanentLock: true } } });
  specs.push({ kind: 'disabled: pwdAccountLockedTime', uid: 'locked.for.now', attributes: { pwdAccountLockedTime: ['20240101000000Z'] } });
  // Disabled and broken: disabled all the same (the broken values are neither reported nor sent).
  specs.push({
    kind: 'disabled: with an unreadable phone',
    uid: 'gone.badphone',
    attributes: { employeeType: ['disabled'], mobile: ['ask reception'] },
    expect: { disabledBy: both, phone: 'unread', phoneProblem: `user gone.badphone: mobile "ask reception" is not a phone number; ${PROVISIONED_WITHOUT}` },
  });
  specs.push({
    kind: 'disabled: with an invalid email',
    uid: 'gone.badmail',
    attributes: { employeeType: ['Disabled'], mail: ['gone@@example.com'] },
    expect: { disabledBy: both, failure: 'user gone.badmail: email "gone@@example.com" must contain exactly one "@"; Duo would refuse it: fix it in the directory' },
  });
  return specs;
}

export interface MessyOptions {
  /** More groupOfNames besides `staff` (the first five entries): name → member uids. */
  groups?: Record<string, readonly string[]>;
}

/**
 * Builds the directory: the special entries, then ordinary users cycling through the phone formats
 * up to `size`. Members carry `memberOf` as the memberof overlay would have written it (slapadd does
 * not run overlays), so a modrdn of a member updates its groups as on a live server.
 */
export function messyDirectory(size = 1_050, options: MessyOptions = {}): MessyDirectory {
  const specs = specialSpecs();
  for (let i = 0; specs.length < size; i++) {
    const phoneCase = PHONE_CASES[i % PHONE_CASES.length] as PhoneCase;
    const n = Math.floor(i / PHONE_CASES.length) % 1000;
    specs.push({
      kind: phoneCase.kind,
      uid: `user${pad(i, 4)}`,
      attributes: { givenName: ['User'], sn: [`Number ${i}`], [phoneCase.attribute]: [phoneCase.written(n)] },
      expect: { phone: phoneCase.expected(n) },
    });
  }
  const entries = specs.map(entry);
  const groups: Record<string, string[]> = { staff: entries.slice(0, 5).map((e) => e.uid) };
  for (const [cn, uids] of Object.entries(options.groups ?? {})) groups[cn] = [...uids];
  const dnByUid = new Map(entries.map((e) => [e.uid, e.dn]));
  const memberOf = new Map<string, string[]>();
  for (const [cn, uids] of Object.entries(groups)) {
    for (const uid of uids) {
      const dn = dnByUid.get(uid);
      if (dn === undefined) throw new Error(`messyDirectory: group ${cn} names ${uid}, which is not an entry`);
      memberOf.set(dn, [...(memberOf.get(dn) ?? []), `cn=${cn},${LDAP_GROUPS_DN}`]);
    }
  }
  const parts: string[] = [
    [`dn: ${LDAP_SUFFIX}`, 'objectClass: dcObject', 'objectClass: organization', 'dc: example', 'o: Example'].join('\n'),
    [`dn: ${LDAP_USERS_DN}`, 'objectClass: organizationalUnit', 'ou: people'].join('\n'),
    ...MESSY_OUS.map((ou) => [`dn: ou=${ou},${LDAP_USERS_DN}`, 'objectClass: organizationalUnit', `ou: ${ou}`].join('\n')),
    [`dn: ${LDAP_GROUPS_DN}`, 'objectClass: organizationalUnit', 'ou: groups'].join('\n'),
    ...Object.entries(groups).map(([cn, uids]) => [`dn: cn=${cn},${LDAP_GROUPS_DN}`, 'objectClass: groupOfNames', `cn: ${cn}`, ...uids.map((uid) => ldifLine('member', dnByUid.get(uid) as string))].join('\n')),
  ];
  for (const e of entries) {
    const lines = [ldifLine('dn', e.dn), 'objectClass: inetOrgPerson', ldifLine('uid', e.uid)];
    for (const [name, values] of Object.entries(e.attributes)) for (const v of values) lines.push(ldifLine(name, v));
    for (const group of memberOf.get(e.dn) ?? []) lines.push(ldifLine('memberOf', group));
    parts.push(lines.join('\n'));
  }
  return { ldif: parts.join('\n\n') + '\n', entries, usersDn: LDAP_USERS_DN, groupsDn: LDAP_GROUPS_DN };
}
