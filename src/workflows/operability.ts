/**
 * The entity's background work for operators: writing audit entries to the audit sink and
 * delivering webhook notifications. Both run beside the entity's loop (never blocking it), report
 * back to the entity, and sit behind patches so histories recorded before them replay unchanged.
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { DuoSyncActivities } from '../activities';
import type { ConnectionEntity, OpsAction } from '../domain/entity/connection-entity';
import { failureMessage } from './failures';

/** Each delivery or write is retried for about 3 minutes; after that the entity waits and tries again. */
const opsActivities = proxyActivities<Pick<DuoSyncActivities, 'writeAudit' | 'sendWebhook'>>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 6 },
});

export function carryOutOpsAction(entity: ConnectionEntity, action: OpsAction, now: () => number): void {
  const connectionId = entity.connectionId;
  if (action.kind === 'writeAudit') {
    const upTo = Math.max(...action.entries.map((e) => e.seq));
    if (!patched('audit-sink')) return entity.auditWritten(upTo);
    void opsActivities.writeAudit({ connectionId, entries: action.entries }).then(
      () => entity.auditWritten(upTo),
      (err: unknown) => entity.auditWriteFailed(now(), failureMessage(err)),
    );
    return;
  }
  if (!patched('webhook-notifications')) {
    return entity.notificationsDelivered(now(), action.deliveries.map((d) => ({ webhookId: d.webhook.id, sent: d.notifications.map((n) => n.id) })));
  }
  const sends = action.deliveries.map((d) =>
    opsActivities.sendWebhook({ connectionId, webhook: d.webhook, notifications: d.notifications }).then(
      () => ({ webhookId: d.webhook.id, sent: d.notifications.map((n) => n.id) }),
      (err: unknown) => ({ webhookId: d.webhook.id, sent: [], error: failureMessage(err) }),
    ),
  );
  void Promise.all(sends).then((outcomes) => entity.notificationsDelivered(now(), outcomes));
}
