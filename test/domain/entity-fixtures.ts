/** What the connection-entity unit tests share: a fixed clock, a valid configuration and a ready entity. */
import { ConnectionConfigSchema, type ConnectionConfig } from '../../src/domain/connection';
import { ConnectionEntity } from '../../src/domain/entity/connection-entity';
import type { AuditActor } from '../../src/contract';

export const MIN = 60_000;
export const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
export const HASH = '00000000000000aa';

export function entityConfig(extra: Record<string, unknown> = {}): ConnectionConfig {
  return ConnectionConfigSchema.parse({
    connectionId: 'acme',
    duo: { apiHost: 'api-12345678.duosecurity.com', integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey: { env: 'DUO_SYNC_SKEY' } },
    store: { kind: 'file', path: '/tmp/none.json' },
    userActions: { create: true, update: true },
    rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }],
    ...extra,
  });
}

/** A configured entity whose connection test passed. */
export function readyEntity(extra: Record<string, unknown> = {}, options: { maxConcurrentReconciles?: number; actor?: AuditActor } = {}): ConnectionEntity {
  const e = new ConnectionEntity({ connectionId: 'acme', minuteMs: MIN, maxConcurrentReconciles: options.maxConcurrentReconciles ?? 2 });
  e.configure(T0, e.checkConfigure(entityConfig(extra)), options.actor);
  e.connectionTested(T0, { ok: true, testedAt: new Date(T0).toISOString(), checks: [] });
  return e;
}
