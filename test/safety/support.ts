/**
 * Helpers for the safety tests: run the public workflows the way ops do (by hand, against the
 * fixture's configured connection entity, see test/support/runs.ts), and read Duo the way an
 * auditor would, by user id rather than by a lookup that also matches aliases.
 */
import type { FullSyncInput } from '../../src/contract';
import { DuoClient } from '../../src/duo';
import type { RunSummary } from '../../src/domain/summary';
import type { UserRecord } from '../../src/sandbox/store';
import { runByHand } from '../support/runs';
import type { SyncFixture } from '../support/sync-fixture';

export interface RunResult {
  outcome?: string;
  summary: RunSummary;
}

export function runFullSync(fx: SyncFixture, extra: Omit<FullSyncInput, 'connectionId'> = {}): Promise<RunResult> {
  return runByHand(fx, 'fullSyncWorkflow', extra);
}

export function runReconcileUser(fx: SyncFixture, username: string): Promise<RunResult> {
  return runByHand(fx, 'reconcileUserWorkflow', { username });
}

export function runReconcileGroup(fx: SyncFixture, group: string): Promise<RunResult> {
  return runByHand(fx, 'reconcileGroupWorkflow', { group });
}

export function duoClientOf(fx: SyncFixture): DuoClient {
  return new DuoClient(fx.sandbox.clientOptions());
}

/** The Duo user whose *username* is `username` (the sandbox's name index also holds aliases). */
export function duoUserNamed(fx: SyncFixture, username: string): UserRecord | undefined {
  return [...fx.sandbox.store.users.values()].find((u) => u.username.toLowerCase() === username.toLowerCase());
}

/** Sets alias1 of a Duo user, as an administrator does in the Admin Panel. */
export function addAlias(fx: SyncFixture, username: string, alias: string): void {
  const user = duoUserNamed(fx, username);
  if (!user) throw new Error(`no Duo user ${username}`);
  fx.sandbox.store.modifyUser(user.user_id, new Map([['alias1', alias]]));
}

/** Phone numbers of a Duo user, sorted. */
export function phoneNumbersOf(fx: SyncFixture, user: UserRecord | undefined): string[] {
  if (!user) return [];
  return [...user.phoneIds].map((id) => fx.sandbox.store.phones.get(id)?.number ?? `missing ${id}`).sort();
}

export function failureCodes(summary: RunSummary): string[] {
  return summary.failures.map((f) => f.code ?? '').sort();
}
