/**
 * duo-sync's own Prometheus metrics (prom-client), fed by small hooks: the Duo client's request
 * observer, a wrapper around each identity store, the run-metrics workflow sink, and counters for
 * audit writes and webhook deliveries. Labels are bounded: connection ids, run kinds, Duo rate
 * categories, endpoint templates (ids replaced by `{id}`), HTTP status codes, store operations,
 * never a username or an object id. Names are listed in METRIC_NAMES (the dashboard test checks them).
 *
 * Counters whose label values are known once the connection is (runs by kind and outcome, objects
 * changed, 429s by rate category, webhook outcomes, audit entries) are exported at 0 as soon as this
 * worker knows the connection: from Temporal at scrape time (`knownConnections`) and whenever an
 * activity builds the connection's Duo client or store. A series that first appears at 1 is invisible
 * to `increase()`/`rate()`, which only count change between samples.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DuoRequestObserver } from '../duo';
import { DUO_RATE_CATEGORIES } from '../duo/rate-categories';
import type { RunKind } from '../contract/ids';
import type { IdentityStore } from '../stores';
import { StoreError, type StoreErrorKind } from '../stores/errors';
import type { ResourceInstrumentation } from '../activities/resources';
import { duoEndpointTemplate } from './duo-endpoint';
import type { RunEndedMetric } from './sinks';

/** Runs waiting at the deletion guard, per connection, as Temporal's visibility and the runs' progress show them. */
export interface AwaitingApproval {
  connectionId: string;
  runs: number;
  plannedDeletions: number;
}

export interface DuoSyncMetricsOptions {
  registry?: Registry;
  /** Node process metrics (CPU, memory, event loop) with the `duo_sync_` prefix; default on. */
  processMetrics?: boolean;
  /** Read on every scrape (cached by the caller): runs awaiting deletion approval. */
  awaitingApproval?: () => Promise<AwaitingApproval[]>;
  /** Read on scrapes (cached 30 s): the connections that exist, so their counters start at 0 here too. */
  knownConnections?: () => Promise<string[]>;
}

const RUN_KINDS: readonly RunKind[] = ['fullSync', 'inboundSync', 'reconcileUser', 'reconcileGroup', 'deleteRule'];
/** How runs end (src/metrics/workflow-interceptors.ts); `running` and `awaitingApproval` are never final. */
const FINAL_OUTCOMES = ['succeeded', 'partial', 'failed', 'cancelled'] as const;
const CHANGES = [
  ...['created', 'updated', 'disabled', 'deleted'].map((action) => ({ object: 'user', action })),
  ...['created', 'updated', 'deleted', 'membershipsAdded', 'membershipsRemoved'].map((action) => ({ object: 'group', action })),
];

const STORE_OPERATIONS = ['check', 'listUsers', 'listGroups', 'listGroupMembers', 'lookupUsers', 'getUser', 'createUser', 'updateUser', 'disableUser', 'deleteUser'] as const;
// A record, so the compiler names a StoreErrorKind missing here; `other` is any error that is not a StoreError.
const STORE_ERROR_KIND_SET: Record<StoreErrorKind, true> = { unavailable: true, auth_failed: true, invalid_config: true, not_found: true, conflict: true, read_only: true, invalid_request: true, incomplete: true };
const STORE_ERRORS = [...Object.keys(STORE_ERROR_KIND_SET), 'other'];
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const RUN_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400];

export type DuoSyncMetrics = ReturnType<typeof createDuoSyncMetrics>;

export function createDuoSyncMetrics(options: DuoSyncMetricsOptions = {}) {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'duo_sync_' });
  const registers = [registry];

  // The counters started at 0 for known connections (below) each wait for that read in their own collect: the registry collects concurrently.
  const duoRequests = new Counter({ name: 'duo_sync_duo_requests_total', help: 'Duo Admin API requests by rate category, endpoint template, method and HTTP status (or error kind when there was no answer).', labelNames: ['connection_id', 'category', 'endpoint', 'method', 'status'], registers });
  const duoRequestSeconds = new Histogram({ name: 'duo_sync_duo_request_duration_seconds', help: 'Duo Admin API request latency (after pacing), by rate category.', labelNames: ['category'], buckets: LATENCY_BUCKETS, registers });
  const duoRateLimited = new Counter({ name: 'duo_sync_duo_rate_limited_total', help: 'Duo answers HTTP 429, by connection and rate category.', labelNames: ['connection_id', 'category'], registers, collect: () => initialiseKnown() });
  const pacingWait = new Histogram({ name: 'duo_sync_duo_pacing_wait_seconds', help: 'Time a Duo request waited for the pacer: "adaptive" (per rate category) or "cap" (duo.requestsPerSecond).', labelNames: ['connection_id', 'pacer', 'category'], buckets: [0, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
  const runs = new Counter({ name: 'duo_sync_runs_total', help: 'Finished runs by connection, kind, outcome (succeeded, partial, failed, cancelled) and dry run.', labelNames: ['connection_id', 'kind', 'outcome', 'dry_run'], registers, collect: () => initialiseKnown() });
  const runSeconds = new Histogram({ name: 'duo_sync_run_duration_seconds', help: 'Run duration from the start of its continue-as-new chain to its end, by kind and outcome.', labelNames: ['kind', 'outcome'], buckets: RUN_BUCKETS, registers });
  const objectsChanged = new Counter({ name: 'duo_sync_objects_changed_total', help: 'Duo (or, inbound, store) objects changed by real runs: object user|group, action created|updated|disabled|deleted|membershipsAdded|membershipsRemoved.', labelNames: ['connection_id', 'kind', 'object', 'action'], registers, collect: () => initialiseKnown() });
  const storeSeconds = new Histogram({ name: 'duo_sync_store_request_duration_seconds', help: 'Identity store call latency by connection, store kind and operation (including failures).', labelNames: ['connection_id', 'store_kind', 'operation'], buckets: LATENCY_BUCKETS, registers });
  const storeErrors = new Counter({ name: 'duo_sync_store_errors_total', help: 'Identity store calls that failed, by error kind (unavailable, auth_failed, incomplete, …).', labelNames: ['connection_id', 'store_kind', 'operation', 'error'], registers });
  const auditWritten = new Counter({ name: 'duo_sync_audit_entries_written_total', help: 'Audit entries appended to DUO_SYNC_AUDIT_FILE.', labelNames: ['connection_id'], registers, collect: () => initialiseKnown() });
  const webhooks = new Counter({ name: 'duo_sync_webhook_deliveries_total', help: 'Webhook deliveries by outcome (sent, failed: each failed try).', labelNames: ['connection_id', 'outcome'], registers, collect: () => initialiseKnown() });

  const initialised = new Set<string>();
  const connectionKnown = (connectionId: string): void => {
    if (initialised.has(connectionId)) return;
    initialised.add(connectionId);
    const id = { connection_id: connectionId };
    for (const kind of RUN_KINDS) {
      for (const outcome of FINAL_OUTCOMES) for (const dryRun of ['false', 'true']) runs.inc({ ...id, kind, outcome, dry_run: dryRun }, 0);
      for (const change of CHANGES) objectsChanged.inc({ ...id, kind, ...change }, 0);
    }
    for (const category of DUO_RATE_CATEGORIES) duoRateLimited.inc({ ...id, category }, 0);
    for (const outcome of ['sent', 'failed']) webhooks.inc({ ...id, outcome }, 0);
    auditWritten.inc(id, 0);
  };
  // One read per 30 s shared by every counter's collect; a failed read initialises nothing and is retried next scrape.
  let connectionsRead: { at: number; value: Promise<void> } | undefined;
  const initialiseKnown = (): Promise<void> => {
    const read = options.knownConnections;
    if (!read) return Promise.resolve();
    if (!connectionsRead || Date.now() - connectionsRead.at > 30_000) {
      const started = { at: Date.now(), value: Promise.resolve() };
      started.value = read().then(
        (ids) => ids.forEach(connectionKnown),
        () => {
          if (connectionsRead === started) connectionsRead = undefined;
        },
      );
      connectionsRead = started;
    }
    return connectionsRead.value;
  };

  // Filled at scrape time from one read shared by both gauges (cached for 5 s); a failed read leaves them empty, never stale.
  let cached: { at: number; value: Promise<AwaitingApproval[]> } | undefined;
  const awaiting = (): Promise<AwaitingApproval[]> => {
    const read = options.awaitingApproval;
    if (!read) return Promise.resolve([]);
    if (!cached || Date.now() - cached.at > 5_000) cached = { at: Date.now(), value: read().catch(() => []) };
    return cached.value;
  };
  new Gauge({
    name: 'duo_sync_runs_awaiting_approval',
    help: 'Runs waiting at the deletion guard (cluster-wide, from Temporal; every worker reports the same: use max).',
    labelNames: ['connection_id'],
    registers,
    async collect() {
      const list = await awaiting();
      this.reset();
      for (const a of list) this.set({ connection_id: a.connectionId }, a.runs);
    },
  });
  new Gauge({
    name: 'duo_sync_deletions_awaiting_approval',
    help: 'Deletions planned by runs waiting at the deletion guard (cluster-wide: use max).',
    labelNames: ['connection_id'],
    registers,
    async collect() {
      const list = await awaiting();
      this.reset();
      for (const a of list) this.set({ connection_id: a.connectionId }, a.plannedDeletions);
    },
  });

  const duoObserver = (connectionId: string): DuoRequestObserver => {
    connectionKnown(connectionId);
    return {
      requestFinished({ category, method, path, status, seconds }) {
        duoRequests.inc({ connection_id: connectionId, category, endpoint: duoEndpointTemplate(path), method, status: String(status) });
        duoRequestSeconds.observe({ category }, seconds);
        if (status === 429) duoRateLimited.inc({ connection_id: connectionId, category });
      },
      pacingWaited({ pacer, category, seconds }) {
        pacingWait.observe({ connection_id: connectionId, pacer, category }, seconds);
      },
    };
  };

  const storesInitialised = new Set<string>();
  const wrapStore = (connectionId: string, store: IdentityStore): IdentityStore => {
    connectionKnown(connectionId);
    const timed = new Set<string>(STORE_OPERATIONS);
    // Store errors at 0 for the operations this store has, once per connection and store kind.
    if (!storesInitialised.has(`${connectionId}\n${store.kind}`)) {
      storesInitialised.add(`${connectionId}\n${store.kind}`);
      for (const operation of STORE_OPERATIONS) {
        if (typeof Reflect.get(store, operation) !== 'function') continue;
        for (const error of STORE_ERRORS) storeErrors.inc({ connection_id: connectionId, store_kind: store.kind, operation, error }, 0);
      }
    }
    return new Proxy(store, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof property !== 'string' || !timed.has(property) || typeof value !== 'function') return value;
        const labels = { connection_id: connectionId, store_kind: target.kind, operation: property };
        return async (...args: unknown[]) => {
          const end = storeSeconds.startTimer(labels);
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } catch (err) {
            storeErrors.inc({ ...labels, error: err instanceof StoreError ? err.kind : 'other' });
            throw err;
          } finally {
            end();
          }
        };
      },
    });
  };

  const instrumentation: ResourceInstrumentation = { duoObserver, wrapStore };

  return {
    registry,
    instrumentation,
    runEnded(run: RunEndedMetric): void {
      connectionKnown(run.connectionId);
      runs.inc({ connection_id: run.connectionId, kind: run.kind, outcome: run.outcome, dry_run: String(run.dryRun) });
      runSeconds.observe({ kind: run.kind, outcome: run.outcome }, run.seconds);
      if (run.dryRun || !run.changed) return;
      for (const [object, actions] of [['user', run.changed.users], ['group', run.changed.groups]] as const) {
        for (const [action, n] of Object.entries(actions)) if (n > 0) objectsChanged.inc({ connection_id: run.connectionId, kind: run.kind, object, action }, n);
      }
    },
    auditWritten(connectionId: string, entries: number): void {
      auditWritten.inc({ connection_id: connectionId }, entries);
    },
    webhookDelivery(connectionId: string, outcome: 'sent' | 'failed'): void {
      webhooks.inc({ connection_id: connectionId, outcome });
    },
    /** The Prometheus text exposition. */
    scrape: () => registry.metrics(),
  };
}
