/**
 * The messy directory's entries (test/support/messy-directory.ts) written to the file store and to
 * the SCIM test server, where they apply: phones in a dozen formats (file: the same `mobile` and
 * `telephoneNumber` attributes; SCIM: `phoneNumbers`, mobile first, so every phone is a mobile),
 * hostile and padded usernames, invalid emails and control characters, non-ASCII names, disabled
 * accounts (the store's own flag). One full sync: each entry's outcome as its kind says; a second
 * sync: no Duo writes. The LDAP version, with the disabled-account conventions, is in
 * test/stores/ldap.test.ts and test/workflows/everyday-changes.test.ts.
 */
import assert from 'node:assert/strict';
import type { ConnectionConfig } from '../../src/domain/connection';
import type { DesiredPhone } from '../../src/domain/mapping';
import { messyDirectory, MESSY_PHONE_REGION, type MessyEntry } from '../support/messy-directory';
import { startScimServer, type ScimTestServer } from '../support/scim-server';
import { makeSyncFixture, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { runFullSync } from '../safety/support';

const TOKEN_ENV = 'DUO_SYNC_TEST_MESSY_SCIM_TOKEN';
/** The special entries and eight ordinary ones (some of which list the same number in different formats). */
const entries = messyDirectory(48).entries;
const disabled = (e: MessyEntry): boolean => e.expect.disabledBy.employeeTypeAny;
const phoneKey = (p: Pick<DesiredPhone, 'number' | 'extension'>): string => `${p.number};${p.extension ?? ''}`;

/** Numbers more than one enabled, valid entry lists: a PhoneConflict of each of them. */
function sharedNumbers(): Set<string> {
  const count = new Map<string, number>();
  for (const e of entries) {
    if (disabled(e) || e.expect.failure || !e.expect.phone || e.expect.phone === 'unread') continue;
    const key = phoneKey(e.expect.phone);
    count.set(key, (count.get(key) ?? 0) + 1);
  }
  return new Set([...count].filter(([, n]) => n > 1).map(([key]) => key));
}

const rule = [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, phoneRegion: MESSY_PHONE_REGION }] as ConnectionConfig['rules'];

/** Syncs twice and checks every entry's outcome by its kind; `phoneType` is the Duo type each store's phones get. */
async function checkOutcomes(fx: SyncFixture, phoneType: (e: MessyEntry, phone: DesiredPhone) => string): Promise<void> {
  const run = await runFullSync(fx);
  const failures = new Map<string, string[]>();
  for (const f of run.summary.failures) failures.set(f.username, [...(failures.get(f.username) ?? []), f.code ?? f.operation]);
  const shared = sharedNumbers();
  for (const e of entries) {
    const where = `${JSON.stringify(e.uid)} (${e.kind})`;
    const user = fx.duoUser(e.expect.username);
    if (disabled(e)) {
      assert.equal(user, undefined, `${where}: disabled, never created`);
      continue;
    }
    if (e.expect.failure) {
      assert.equal(user, undefined, `${where}: refused before any Duo call`);
      assert.deepEqual(failures.get(e.expect.username.trim() || e.uid), ['MappingError'], where);
      continue;
    }
    assert.ok(user, `${where}: created`);
    assert.equal(user.username, e.expect.username, where);
    assert.equal(user.realname, e.expect.realname ?? '', `${where}: realname`);
    const phones = [...user.phoneIds].map((id) => fx.sandbox.store.getPhone(id));
    const want = e.expect.phone;
    if (want === 'unread') {
      assert.deepEqual(phones, [], where);
      assert.deepEqual(failures.get(e.expect.username), ['InvalidPhone'], where);
    } else if (want && shared.has(phoneKey(want))) {
      assert.deepEqual(phones, [], `${where}: a number others list too`);
      assert.deepEqual(failures.get(e.expect.username), ['PhoneConflict'], where);
    } else if (want) {
      assert.deepEqual(phones.map((p) => [p.number, p.extension || undefined, p.type]), [[want.number, want.extension, phoneType(e, want)]], where);
    } else {
      assert.deepEqual(phones, [], where);
    }
  }
  fx.sandbox.resetStats();
  await runFullSync(fx);
  assert.equal(fx.sandbox.stats().writes, 0, `re-sync wrote: ${JSON.stringify(fx.sandbox.stats().byEndpoint)}`);
}

describe('the messy directory in the file store and the SCIM server: each entry as its kind says, and a re-sync writes nothing', function () {
  this.timeout(120_000);
  let fx: SyncFixture | undefined;
  let scim: ScimTestServer | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    await scim?.close();
    fx = undefined;
    scim = undefined;
  });

  it('file store (phones in the same attributes as in LDAP, disabled by its enabled flag)', async () => {
    const users: FileUser[] = entries.map((e) => ({
      id: `id-${e.dn}`,
      username: e.uid,
      ...(e.attributes['mail'] ? { email: e.attributes['mail'][0] } : {}),
      phones: [],
      ...(e.attributes['givenName'] ? { givenName: e.attributes['givenName'][0] } : {}),
      ...(e.attributes['sn'] ? { familyName: e.attributes['sn'][0] } : {}),
      ...(e.attributes['displayName'] ? { displayName: e.attributes['displayName'][0] } : {}),
      enabled: !disabled(e),
      attributes: Object.fromEntries(['mobile', 'telephoneNumber'].flatMap((a) => (e.attributes[a] ? [[a, e.attributes[a]]] : []))),
    }));
    fx = await makeSyncFixture({ users, config: { rules: rule } });
    await checkOutcomes(fx, (_e, p) => (p.type === 'mobile' ? 'Mobile' : 'Landline'));
  });

  it('SCIM (phoneNumbers, mobile first; disabled by active: false)', async () => {
    process.env[TOKEN_ENV] = 'messy-token';
    scim = await startScimServer({ bearerTokens: ['messy-token'] });
    scim.seed(
      entries.map((e) => ({
        userName: e.uid,
        ...(e.attributes['mail'] ? { email: e.attributes['mail'][0] } : {}),
        ...(e.attributes['givenName'] ? { givenName: e.attributes['givenName'][0] } : {}),
        ...(e.attributes['sn'] ? { familyName: e.attributes['sn'][0] } : {}),
        ...(e.attributes['displayName'] ? { displayName: e.attributes['displayName'][0] } : {}),
        phones: [...(e.attributes['mobile'] ?? []), ...(e.attributes['telephoneNumber'] ?? [])],
        active: !disabled(e),
      })),
      [],
    );
    fx = await makeSyncFixture({ config: { rules: rule } });
    fx.config.store = { kind: 'scim', baseUrl: scim.baseUrl, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000 } as ConnectionConfig['store'];
    // SCIM has no phone attributes: the store's phone list is the source, typed mobile.
    await checkOutcomes(fx, () => 'Mobile');
  });
});
