/**
 * Everyday directory edits against a test OpenLDAP, as an administrator makes them (ldapts):
 * add, modify, modrdn and delete, bound as the test admin. Used by the change tests and the soak.
 */
import { Attribute, Change, Client } from 'ldapts';
import { LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD } from './openldap';

export interface LdapEditor {
  add(dn: string, attributes: Record<string, string[]>): Promise<void>;
  /** Replaces (or, with an empty list, removes) each attribute. */
  replace(dn: string, attributes: Record<string, string[]>): Promise<void>;
  addValues(dn: string, attribute: string, values: string[]): Promise<void>;
  deleteValues(dn: string, attribute: string, values: string[]): Promise<void>;
  /** modrdn: `newRdn` like `uid=erina`; returns the new DN. */
  rename(dn: string, newRdn: string): Promise<string>;
  remove(dn: string): Promise<void>;
  /** The entryUUID of an entry. */
  entryUuid(dn: string): Promise<string>;
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url });
  try {
    await client.bind(LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD);
    return await fn(client);
  } finally {
    await client.unbind();
  }
}

export function ldapEditor(url: string): LdapEditor {
  const modify = (dn: string, operation: 'add' | 'delete' | 'replace', type: string, values: string[]) =>
    withClient(url, (c) => c.modify(dn, new Change({ operation, modification: new Attribute({ type, values }) })));
  return {
    add: (dn, attributes) => withClient(url, (c) => c.add(dn, attributes)),
    async replace(dn, attributes) {
      for (const [type, values] of Object.entries(attributes)) await modify(dn, 'replace', type, values);
    },
    addValues: (dn, attribute, values) => modify(dn, 'add', attribute, values),
    deleteValues: (dn, attribute, values) => modify(dn, 'delete', attribute, values),
    async rename(dn, newRdn) {
      await withClient(url, (c) => c.modifyDN(dn, newRdn));
      return `${newRdn},${dn.slice(dn.indexOf(',') + 1)}`;
    },
    remove: (dn) => withClient(url, (c) => c.del(dn)),
    async entryUuid(dn) {
      const res = await withClient(url, (c) => c.search(dn, { scope: 'base', attributes: ['entryUUID'] }));
      const id = res.searchEntries[0]?.['entryUUID'];
      if (typeof id !== 'string') throw new Error(`no entryUUID on ${dn}`);
      return id;
    },
  };
}
