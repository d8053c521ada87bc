/**
 * Test helper: a throwaway OpenLDAP server. Installs slapd via scripts/openldap.sh when missing,
 * writes a slapd.conf (mdb database, memberof overlay) in a temp directory, loads fixtures offline
 * with `slapadd -q` (fast even for 10k users), then starts slapd in the foreground on a free
 * loopback port. `stop()` kills it and removes the directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const LDAP_SUFFIX = 'dc=example,dc=org';
export const LDAP_ADMIN_DN = `cn=admin,${LDAP_SUFFIX}`;
export const LDAP_ADMIN_PASSWORD = 'test-admin-secret';
export const LDAP_USERS_DN = `ou=people,${LDAP_SUFFIX}`;
export const LDAP_GROUPS_DN = `ou=groups,${LDAP_SUFFIX}`;

const SBIN = ['/usr/sbin', '/usr/local/sbin', '/usr/lib/openldap'];

export interface LdifUser {
  uid: string;
  givenName?: string;
  sn?: string;
  cn?: string;
  displayName?: string;
  mail?: string;
  telephoneNumber?: string[];
  mobile?: string[];
  employeeType?: string;
  title?: string;
  groups?: string[];
}

export interface LdifGroup {
  cn: string;
  description?: string;
}

export interface OpenLdapServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function findBinary(name: string): string | undefined {
  for (const dir of SBIN) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function ensureOpenLdapInstalled(): { slapd: string; slapadd: string } {
  let slapd = findBinary('slapd');
  let slapadd = findBinary('slapadd');
  if (!slapd || !slapadd) {
    execFileSync('bash', [path.join(__dirname, '..', '..', 'scripts', 'openldap.sh')], { stdio: 'inherit' });
    slapd = findBinary('slapd');
    slapadd = findBinary('slapadd');
  }
  if (!slapd || !slapadd) throw new Error('slapd/slapadd not found after scripts/openldap.sh; install slapd and ldap-utils');
  return { slapd, slapadd };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** LDIF value: base64 (`::`) when it is not a SAFE-STRING per RFC 2849. */
function ldifLine(attr: string, value: string): string {
  const safe = /^[\x01-\x09\x0b-\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b-\x0c\x0e-\x7f]*$/.test(value) && !value.endsWith(' ');
  return safe ? `${attr}: ${value}` : `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

/** RFC 4514 escaping for a DN attribute value (test fixtures may contain hostile usernames). */
export function escapeDnValue(v: string): string {
  let out = v.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

export function userDn(uid: string): string {
  return `uid=${escapeDnValue(uid)},${LDAP_USERS_DN}`;
}

export function groupDn(cn: string): string {
  return `cn=${escapeDnValue(cn)},${LDAP_GROUPS_DN}`;
}

export function buildLdif(users: Iterable<LdifUser>, groups: LdifGroup[]): string {
  const parts: string[] = [
    [`dn: ${LDAP_SUFFIX}`, 'objectClass: dcObject', 'objectClass: organization', 'dc: example', 'o: Example'].join('\n'),
    [`dn: ${LDAP_USERS_DN}`, 'objectClass: organizationalUnit', 'ou: people'].join('\n'),
    [`dn: ${LDAP_GROUPS_DN}`, 'objectClass: organizationalUnit', 'ou: groups'].join('\n'),
  ];
  const members = new Map<string, string[]>(groups.map((g) => [g.cn, []]));
  for (const u of users) {
    const lines = [ldifLine('dn', userDn(u.uid)), 'objectClass: inetOrgPerson', ldifLine('uid', u.uid)];
    lines.push(ldifLine('cn', u.cn ?? u.displayName ?? u.uid), ldifLine('sn', u.sn ?? u.uid));
    for (const [k, v] of Object.entries({ givenName: u.givenName, displayName: u.displayName, mail: u.mail, employeeType: u.employeeType, title: u.title })) {
      if (v !== undefined) lines.push(ldifLine(k, v));
    }
    for (const p of u.telephoneNumber ?? []) lines.push(ldifLine('telephoneNumber', p));
    for (const p of u.mobile ?? []) lines.push(ldifLine('mobile', p));
    // slapadd does not run the memberof overlay, so memberOf is written here as the overlay would.
    for (const g of u.groups ?? []) {
      lines.push(ldifLine('memberOf', groupDn(g)));
      members.get(g)?.push(userDn(u.uid));
    }
    parts.push(lines.join('\n'));
  }
  for (const g of groups) {
    const lines = [ldifLine('dn', groupDn(g.cn)), 'objectClass: groupOfNames', ldifLine('cn', g.cn)];
    if (g.description) lines.push(ldifLine('description', g.description));
    const m = members.get(g.cn) ?? [];
    // groupOfNames needs at least one member; an empty group points at its own DN, a common idiom.
    for (const dn of m.length > 0 ? m : [groupDn(g.cn)]) lines.push(ldifLine('member', dn));
    parts.push(lines.join('\n'));
  }
  return parts.join('\n\n') + '\n';
}

export async function startOpenLdap(ldif: string): Promise<OpenLdapServer> {
  const { slapd, slapadd } = ensureOpenLdapInstalled();
  const dir = await mkdtemp(path.join(tmpdir(), 'duo-sync-slapd-'));
  const data = path.join(dir, 'data');
  await mkdir(data);
  const conf = path.join(dir, 'slapd.conf');
  await writeFile(
    conf,
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      'include /etc/ldap/schema/nis.schema',
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      'moduleload memberof',
      // The ppolicy schema (pwdAccountLockedTime, an operational attribute) comes with the module in OpenLDAP 2.5+.
      'moduleload ppolicy',
      `pidfile ${path.join(dir, 'slapd.pid')}`,
      'sizelimit unlimited',
      'database mdb',
      `suffix "${LDAP_SUFFIX}"`,
      `rootdn "${LDAP_ADMIN_DN}"`,
      `rootpw ${LDAP_ADMIN_PASSWORD}`,
      `directory ${data}`,
      'maxsize 1073741824',
      'index objectClass eq',
      'index uid,cn,mail eq,sub',
      'index entryUUID eq',
      'index member,memberOf eq',
      'overlay memberof',
      'memberof-refint TRUE',
      '',
    ].join('\n'),
  );
  const ldifFile = path.join(dir, 'seed.ldif');
  await writeFile(ldifFile, ldif);
  try {
    execFileSync(slapadd, ['-q', '-f', conf, '-l', ldifFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    await rm(dir, { recursive: true, force: true });
    throw new Error(`slapadd failed: ${stderr.slice(-2000)}`);
  }
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(slapd, ['-f', conf, '-h', `${url}/`, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`slapd did not start on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
