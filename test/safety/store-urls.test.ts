/**
 * Store URLs with user info (`ldap://user:password@host`) are refused when the store configuration
 * is validated, with a message that says where credentials go instead and never repeats the URL
 * (every later error would otherwise carry the password).
 */
import assert from 'node:assert/strict';
import { createStore, StoreError, type StoreConfig } from '../../src/stores';

const PASSWORD = 'pw-4b7f0e';

function refused(config: unknown, hint: RegExp): StoreError {
  let caught: unknown;
  try {
    createStore(config);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StoreError, `expected the configuration to be refused, got ${String(caught)}`);
  assert.equal(caught.kind, 'invalid_config');
  assert.match(caught.message, hint);
  assert.ok(!caught.message.includes(PASSWORD), `the message repeats the password: ${caught.message}`);
  return caught;
}

const ldap = (url: string): StoreConfig => ({ kind: 'ldap', url, usersDn: 'ou=people,dc=example,dc=org', groupsDn: 'ou=groups,dc=example,dc=org' });

describe('safety: store URLs never carry credentials', () => {
  it('refuses an LDAP URL with user:password@, pointing at bind.dn and bind.password', () => {
    for (const url of [`ldap://admin:${PASSWORD}@127.0.0.1:389`, `ldaps://cn=admin,dc=example,dc=org:${PASSWORD}@ldap.example.org`, `ldap://cn%3Dadmin:${PASSWORD}@ldap.example.org:389/`, 'ldap://admin@ldap.example.org']) {
      refused(ldap(url), /url: .*user info.*bind\.dn.*bind\.password/);
    }
  });

  it('still accepts plain LDAP URLs', () => {
    for (const url of ['ldap://127.0.0.1:389', 'ldaps://ldap.example.org:636/', 'ldap://[::1]:389']) {
      assert.equal(createStore(ldap(url)).kind, 'ldap');
    }
  });

  it('refuses SCIM base and token URLs with user info too', () => {
    refused({ kind: 'scim', baseUrl: `https://svc:${PASSWORD}@idp.example.com/scim/v2`, auth: { kind: 'bearer', token: { env: 'DUO_SYNC_SCIM_TOKEN' } } }, /baseUrl: .*user info/);
    refused(
      { kind: 'scim', baseUrl: 'https://idp.example.com/scim/v2', auth: { kind: 'oauth', tokenUrl: `https://duo-sync:${PASSWORD}@idp.example.com/token`, clientId: 'duo-sync', clientSecret: { env: 'DUO_SYNC_SCIM_SECRET' } } },
      /tokenUrl: .*user info.*clientSecret/,
    );
  });
});
