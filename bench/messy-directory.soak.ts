/**
 * Soak (`npm run soak:messy`, not part of `npm test`): the 1,050-entry messy OpenLDAP directory
 * (test/support/messy-directory.ts) through real full syncs on the shared dev server, worker and
 * Duo sandbox: the first sync's outcome per kind of entry, the Duo writes of a re-sync with no
 * change, and of each of the ten everyday changes (test/support/everyday-changes.ts), asserted
 * exactly as the 50-entry test does. Writes its figures into bench/RESULTS.md (label messy-ldap).
 */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { EVERYDAY_CHANGES, everydayDirectory, useEverydayDirectory, writesOf } from '../test/support/everyday-changes';
import { ldapEditor } from '../test/support/ldap-edits';
import { LDAP_ADMIN_PASSWORD, startOpenLdap } from '../test/support/openldap';
import { makeSyncFixture } from '../test/support/sync-fixture';
import { runFullSync } from '../test/safety/support';
import { machine, updateReport } from './report';

const PASSWORD_ENV = 'DUO_SYNC_SOAK_MESSY_LDAP_PASSWORD';
const SIZE = Number(process.env['DUO_SYNC_MESSY_SIZE'] ?? 1_050);

describe(`soak: the ${SIZE}-entry messy OpenLDAP directory`, function () {
  this.timeout(0);
  it('first sync per kind of entry, a no-change re-sync, ten everyday changes', async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    const directory = everydayDirectory(SIZE);
    const ldap = await startOpenLdap(directory.ldif);
    const edit = ldapEditor(ldap.url);
    const fx = await makeSyncFixture({ config: { deletionGuard: { maxFraction: 1, maxCount: 5000 } } });
    const lines: string[] = [];
    try {
      await useEverydayDirectory(fx, directory, ldap.url, PASSWORD_ENV, edit);
      let started = Date.now();
      const first = await runFullSync(fx);
      const firstMs = Date.now() - started;
      const firstStats = fx.sandbox.stats();
      // Outcome per kind of entry, read back from Duo against the entry's expectations (the run lists at most 200 failures).
      type Row = { entries: number; active: number; notInDuo: number; phoneAsExpected: number; phoneWithheld: number; phoneUnread: number };
      const rows = new Map<string, Row>();
      for (const entry of directory.entries) {
        const row = rows.get(entry.kind) ?? { entries: 0, active: 0, notInDuo: 0, phoneAsExpected: 0, phoneWithheld: 0, phoneUnread: 0 };
        row.entries += 1;
        const user = fx.duoUser(entry.expect.username);
        if (!user) row.notInDuo += 1;
        else if (user.status === 'active') row.active += 1;
        const phones = [...(user?.phoneIds ?? [])].map((id) => fx.sandbox.store.phones.get(id));
        const want = entry.expect.phone;
        if (want === 'unread') row.phoneUnread += 1;
        else if (want && user?.status === 'active') {
          if (phones.some((p) => p?.number === want.number && (p.extension || undefined) === want.extension)) row.phoneAsExpected += 1;
          else row.phoneWithheld += 1;
        }
        rows.set(entry.kind, row);
      }
      const codes: Record<string, number> = {};
      for (const f of first.summary.failures) codes[f.code ?? f.operation] = (codes[f.code ?? f.operation] ?? 0) + 1;

      fx.sandbox.resetStats();
      started = Date.now();
      const again = await runFullSync(fx);
      const againMs = Date.now() - started;
      const againStats = fx.sandbox.stats();
      assert.equal(againStats.writes, 0, JSON.stringify(againStats.byEndpoint));

      const changes: { name: string; writes: Record<string, number>; ms: number }[] = [];
      for (const change of EVERYDAY_CHANGES) {
        await change.apply(edit, directory);
        fx.sandbox.resetStats();
        started = Date.now();
        await runFullSync(fx);
        const writes = writesOf(fx);
        changes.push({ name: change.name, writes, ms: Date.now() - started });
        assert.deepEqual(writes, change.writes, change.name);
      }
      fx.sandbox.resetStats();
      await runFullSync(fx);
      const finalWrites = fx.sandbox.stats().writes;
      assert.equal(finalWrites, 0);

      const m = machine();
      const c = first.summary;
      lines.push(
        `### Messy OpenLDAP directory: ${directory.entries.length} entries (\`npm run soak:messy\`)`,
        '',
        `${new Date().toISOString().slice(0, 10)}, ${m.cpu}, ${m.nproc} cores (shared with other jobs), ${m.memory}. Real slapd (memberof overlay), the test dev server and worker in one process, the Duo sandbox without rate limits; rule: scope all, \`phoneRegion: GB\`, groups staff and eng (member mode), disabled by \`employeeType\` (any value).`,
        '',
        `**First sync**: ${firstMs} ms, outcome ${first.outcome}; created ${c.created}, skipped ${c.skipped} (disabled, never in Duo), failed ${c.failed}; ${firstStats.writes} Duo writes, ${firstStats.reads} reads.`,
        '',
        `Failures listed (the first 200 of ${c.failed}): ${Object.entries(codes).map(([code, n]) => `${code} ${n}`).join(', ')}. "Phone withheld": the number is readable but another active entry lists it too (\`PhoneConflict\` for each sharer; the directory's formats map many entries to the same number); "unreadable": \`InvalidPhone\`.`,
        '',
        '| kind of entry | entries | active in Duo | not in Duo | phone as expected | phone withheld (shared) | phone unreadable |',
        '|---|---:|---:|---:|---:|---:|---:|',
        ...[...rows].map(([kind, r]) => `| ${kind} | ${r.entries} | ${r.active} | ${r.notInDuo} | ${r.phoneAsExpected} | ${r.phoneWithheld} | ${r.phoneUnread} |`),
        '',
        `**Re-sync, no change**: ${againMs} ms, **${againStats.writes} writes**, ${againStats.reads} reads (${Object.entries(againStats.byEndpoint).map(([k, n]) => `${k} ${n}`).join(', ')}); ${again.summary.unchanged} unchanged, ${again.summary.failed} failures reported again.`,
        '',
        '**Everyday changes**, each followed by a full sync (writes asserted exactly, as in test/workflows/everyday-changes.test.ts):',
        '',
        '| change | Duo writes | full sync ms |',
        '|---|---|---:|',
        ...changes.map((ch) => `| ${ch.name} | ${Object.entries(ch.writes).map(([k, n]) => `${k} ×${n}`).join('; ')} | ${ch.ms} |`),
        '',
        `A re-sync after all ten: ${finalWrites} writes.`,
      );
    } finally {
      await fx.cleanup();
      await ldap.stop();
      delete process.env[PASSWORD_ENV];
    }
    const report = lines.join('\n');
    console.log(report);
    if (SIZE === 1_050) updateReport(resolve(__dirname, 'RESULTS.md'), 'messy-ldap', report);
  });
});
