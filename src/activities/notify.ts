/**
 * Webhook delivery: one activity call sends one webhook the notifications it wants, as one POST.
 * `slack`: `{"text": …}` (Slack incoming webhooks and compatible chat tools); `json`:
 * `{"connectionId", "notifications": [{id, event, at, text, details}]}`, signed with HMAC-SHA256
 * when a signing secret is set. The URL is a secret reference resolved within the worker's
 * allow-list; it must be https (http only on loopback, for tests). 2xx is delivered; 408, 429 and
 * 5xx and network errors are retried by the activity's retry policy; other answers are not.
 */
import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import type { Notification, Webhook } from '../domain/notifications';
import type { ConnectionResources } from './resources';

const TIMEOUT_MS = 10_000;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface NotifyOptions {
  /** Counts deliveries by outcome (src/metrics). */
  onDelivery?: (connectionId: string, outcome: 'sent' | 'failed') => void;
}

function webhookUrl(raw: string, webhookId: string): URL {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw ApplicationFailure.nonRetryable(`webhook ${webhookId}: its url secret does not hold a URL; put the full https://… URL in it`, 'InvalidWebhook');
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))) return url;
  throw ApplicationFailure.nonRetryable(`webhook ${webhookId}: URL must be https (plain http only to loopback)`, 'InvalidWebhook');
}

export function body(webhook: Webhook, connectionId: string, notifications: Notification[]): string {
  if (webhook.format === 'slack') return JSON.stringify({ text: notifications.map((n) => `:rotating_light: duo-sync ${n.text}`).join('\n') });
  return JSON.stringify({ connectionId, notifications });
}

export function createNotifyActivities(resources: ConnectionResources, options: NotifyOptions = {}) {
  return {
    async sendWebhook(input: { connectionId: string; webhook: Webhook; notifications: Notification[] }): Promise<{ sent: number; status: number }> {
      const { connectionId, webhook } = input;
      const resolve = async (ref: Webhook['url'], what: string): Promise<string> => {
        try {
          return await resources.resolveSecret(ref, connectionId);
        } catch (err) {
          throw ApplicationFailure.nonRetryable(`webhook ${webhook.id}: ${what}: ${err instanceof Error ? err.message : String(err)}`, 'SecretUnavailable');
        }
      };
      const url = webhookUrl(await resolve(webhook.url, 'url'), webhook.id);
      const payload = body(webhook, connectionId, input.notifications);
      const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'duo-sync' };
      if (webhook.signingSecret) headers['X-Duo-Sync-Signature'] = `sha256=${createHmac('sha256', await resolve(webhook.signingSecret, 'signingSecret')).update(payload).digest('hex')}`;
      let status: number;
      try {
        const res = await fetch(url, { method: 'POST', headers, body: payload, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
        status = res.status;
        await res.body?.cancel();
      } catch (err) {
        options.onDelivery?.(connectionId, 'failed');
        // The URL is a secret: the message names the webhook and host only.
        throw ApplicationFailure.retryable(`webhook ${webhook.id} (${url.host}): ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`, 'WebhookUnavailable');
      }
      if (status >= 200 && status < 300) {
        options.onDelivery?.(connectionId, 'sent');
        return { sent: input.notifications.length, status };
      }
      options.onDelivery?.(connectionId, 'failed');
      const message = `webhook ${webhook.id} (${url.host}) answered HTTP ${status}`;
      if (status === 408 || status === 429 || status >= 500) throw ApplicationFailure.retryable(message, 'WebhookUnavailable');
      throw ApplicationFailure.nonRetryable(`${message}; check the webhook URL and its receiver`, 'WebhookRejected');
    },
  };
}
