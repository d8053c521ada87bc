/**
 * The registry of `patched()` ids. A workflow change that would make recorded histories replay
 * differently goes behind `patched('<id>')` (a string literal, listed here) so runs started before it keep their old path.
 * Rules (docs/architecture.md, "Changing workflow code"):
 * - record a replay fixture of the old behaviour *before* adding the patch (test/fixtures/histories);
 * - add the id here with the release that introduced it and when it can be retired: once no run
 *   started before that release can still be open (the longest a run lives: an entity is
 *   continued-as-new at least daily, a sync waits at most approvalTimeoutMinutes), first replace
 *   `patched` with `deprecatePatch`, then remove both in a later release;
 * - never reuse an id.
 * 0.1.0 was never released, so the restructure dropped its three patches and re-recorded every fixture.
 */
export interface PatchEntry {
  /** The string passed to patched()/deprecatePatch(). */
  id: string;
  introducedIn: string;
  whatChanged: string;
  retireWhen: string;
}

export const PATCHES: Readonly<Record<string, PatchEntry>> = {
  'audit-sink': {
    id: 'audit-sink',
    introducedIn: '0.2.0',
    whatChanged: 'connectionWorkflow writes its audit entries through the writeAudit activity',
    retireWhen: 'no connection entity has run 0.1.x code since the last continue-as-new (at least a day after every worker runs 0.2.0)',
  },
  'webhook-notifications': {
    id: 'webhook-notifications',
    introducedIn: '0.2.0',
    whatChanged: 'connectionWorkflow delivers notifications through the sendWebhook activity',
    retireWhen: 'as audit-sink',
  },
  'serve-until-continue-as-new': {
    id: 'serve-until-continue-as-new',
    introducedIn: '0.2.0',
    whatChanged: 'connectionWorkflow keeps starting requested runs while it waits to continue as new (a syncNow arriving then no longer waits forever)',
    retireWhen: 'as audit-sink',
  },
};
