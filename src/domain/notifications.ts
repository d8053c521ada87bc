/**
 * Webhook notifications: the `notifications` section of a connection's configuration, the events
 * the entity raises, and the texts they carry. The entity decides *when* (pure); an activity sends
 * them (src/activities/notify.ts). Webhook URLs and signing secrets are secret references, resolved
 * only on the activity side within the worker's allow-list (a Slack webhook URL is a credential).
 */
import { z } from 'zod';
import { SecretRefSchema } from './secret-ref';

export const NOTIFICATION_EVENTS = ['runFailed', 'runPartial', 'deletionsAwaitingApproval', 'connectionTestFailing', 'connectionTestRecovered'] as const;
export const NotificationEventSchema = z.enum(NOTIFICATION_EVENTS);
export type NotificationEvent = z.infer<typeof NotificationEventSchema>;

export const WebhookSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a lower-case slug: a-z, 0-9 and -'),
    /** The webhook's URL, by reference (`{"env": …}` or `{"file": …}`): https, or http on loopback. */
    url: SecretRefSchema,
    /** `slack`: `{"text": …}` for Slack-compatible incoming webhooks; `json`: the notifications as JSON. */
    format: z.enum(['slack', 'json']).default('json'),
    /** Which events to send; absent: all of them. */
    events: z.array(NotificationEventSchema).min(1).optional(),
    /** For `json`: signs the body with HMAC-SHA256 in `X-Duo-Sync-Signature: sha256=<hex>`. */
    signingSecret: SecretRefSchema.optional(),
  })
  .strict();
export type Webhook = z.infer<typeof WebhookSchema>;

export const NotificationsSchema = z
  .object({ webhooks: z.array(WebhookSchema).max(10, 'at most 10 webhooks per connection').default([]) })
  .strict()
  .superRefine((n, ctx) => {
    const seen = new Set<string>();
    n.webhooks.forEach((w, i) => {
      if (seen.has(w.id)) ctx.addIssue({ code: 'custom', path: ['webhooks', i, 'id'], message: `duplicate webhook id "${w.id}"` });
      seen.add(w.id);
    });
  });
export type Notifications = z.infer<typeof NotificationsSchema>;

const DetailValueSchema = z.union([z.string().max(2000), z.number(), z.boolean()]);

/** One thing worth telling people about, as the entity queues it and the activity sends it. */
export const NotificationSchema = z
  .object({
    /** `<connectionId>/<seq>`: unique per connection; receivers can drop a retried duplicate by it. */
    id: z.string(),
    event: NotificationEventSchema,
    connectionId: z.string(),
    at: z.string(),
    /** One line for people (Slack shows it as is). */
    text: z.string().max(3000),
    details: z.record(z.string(), DetailValueSchema).default({}),
  })
  .strict();
export type Notification = z.infer<typeof NotificationSchema>;

/** The webhooks that want an event. */
export function webhooksFor(notifications: Notifications | undefined, event: NotificationEvent): Webhook[] {
  return (notifications?.webhooks ?? []).filter((w) => !w.events || w.events.includes(event));
}
