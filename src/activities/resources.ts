/**
 * Per-worker cache of the clients a connection needs: a Duo client (secret resolved here, on the
 * activity side, from the connection's secret reference) and an identity-store adapter. Keyed by
 * the parts of the config they depend on, so a reconfigured connection gets fresh clients.
 *
 * A secret changed in its file or environment variable is picked up without a restart: the Duo
 * client's secret key (and CA bundle) is resolved again when the cached client is older than
 * `secretTtlMs` (default 30 s), and the client is rebuilt when the value changed. Stores resolve
 * their secrets on every connection or token request themselves.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { describeSecretRef, loadSecretPolicy, resolveSecret as defaultResolveSecret, type SecretPolicy, type SecretRef } from '../config/secrets';
import { AccountPacer, DuoClient, RequestPacer, type AdaptivePacingOptions, type DuoClientOptions, type DuoRequestObserver } from '../duo';
import type { ConnectionConfig } from '../domain/connection';
import { createStore as defaultCreateStore, type IdentityStore } from '../stores';
import { beatIfInActivity } from './heartbeat';
import { FailureMemo } from './failure-memo';
import { PerRunCache } from './run-cache';
import type { SharedPhoneIndex } from './shared-phones';
import type { AdminGroupsResolution } from './admins';

/** Hooks for metrics (src/metrics): an observer per connection's Duo client, a wrapper around its store. */
export interface ResourceInstrumentation {
  duoObserver(connectionId: string): DuoRequestObserver;
  wrapStore(connectionId: string, store: IdentityStore): IdentityStore;
}

export interface ResourceOptions {
  /** Replaces secret resolution entirely (tests); the default resolves inside `secretPolicy`. */
  resolveSecret?: (ref: SecretRef, connectionId: string) => Promise<string>;
  /** What secret references this worker resolves (default: from DUO_SYNC_SECRET_* in its environment). */
  secretPolicy?: SecretPolicy;
  createStore?: typeof defaultCreateStore;
  /** Builds the Duo client (tests observe the options it gets); default `new DuoClient(options)`. */
  createDuoClient?: (options: DuoClientOptions) => DuoClient;
  /** Users of one page reconciled at once (default 8); each is a few dependent Duo calls. */
  pageConcurrency?: number;
  /**
   * Adaptive per-category pacing. Absent: real Duo accounts are paced by the process-wide pacer of
   * each account (the client's default, from Duo's known limits); a loopback sandbox is not. Given:
   * one AccountPacer per Duo account on this worker with these options, shared by every connection
   * of the account, sandbox included (e.g. `{ limits: 'duo', timeScale: k }`). false: no pacing.
   */
  pacing?: AdaptivePacingOptions | false;
  /** How often a request waiting for a pacer heartbeats its activity (default 5 s; the page heartbeat timeout is 20 s). */
  pacingHeartbeatMs?: number;
  /** Extra Duo client options (timeouts). */
  duo?: Partial<Omit<DuoClientOptions, 'apiHost' | 'integrationKey' | 'secretKey'>>;
  /** How long a Duo client's resolved secret is trusted before it is read again (default 30 s; 0: every use). */
  secretTtlMs?: number;
  instrumentation?: ResourceInstrumentation;
  /** Clock (tests). */
  now?: () => number;
}

export interface ConnectionResources {
  readonly pageConcurrency: number;
  /** Entries that failed for their data, not sent to Duo again until they change (src/activities/failure-memo.ts). */
  readonly failureMemo: FailureMemo;
  /** Per run and rule: the numbers several store users list (src/activities/shared-phones.ts). */
  readonly sharedPhones: PerRunCache<SharedPhoneIndex>;
  /** Per run and rule: which store groups contain which (rules with groups.nested "flatten"). */
  readonly groupParents: PerRunCache<ReadonlyMap<string, readonly string[]>>;
  /** Per run and rule: the store groups of `administrators.groups` and their members (src/activities/admins.ts). */
  readonly adminGroups: PerRunCache<AdminGroupsResolution>;
  duo(config: ConnectionConfig): Promise<DuoClient>;
  store(config: ConnectionConfig): Promise<IdentityStore>;
  /** Resolves one of the connection's secret references within the worker's allow-list. */
  resolveSecret(ref: SecretRef, connectionId: string): Promise<string>;
  close(): Promise<void>;
}

interface CachedDuoClient {
  client: DuoClient;
  /** Hash of the secret key and CA bundle the client was built with. */
  fingerprint: string;
  checkedAt: number;
}

export const DEFAULT_SECRET_TTL_MS = 30_000;

export function createConnectionResources(options: ResourceOptions = {}): ConnectionResources {
  const policy = options.secretPolicy ?? loadSecretPolicy(process.env);
  const resolveSecret = options.resolveSecret ?? ((ref: SecretRef, connectionId: string) => defaultResolveSecret(ref, process.env, { policy, connectionId }));
  const createStore = options.createStore ?? defaultCreateStore;
  const createDuoClient = options.createDuoClient ?? ((o: DuoClientOptions) => new DuoClient(o));
  const secretTtlMs = options.secretTtlMs ?? DEFAULT_SECRET_TTL_MS;
  const now = options.now ?? Date.now;
  const duoClients = new Map<string, CachedDuoClient>();
  // One bucket per Duo account and rate, shared by every client of that account on this worker.
  const pacers = new Map<string, RequestPacer>();
  const pacerFor = (config: ConnectionConfig): RequestPacer | undefined => {
    const rate = config.duo.requestsPerSecond;
    if (rate === undefined) return undefined;
    const key = JSON.stringify([config.duo.apiHost, config.duo.integrationKey, rate]);
    let pacer = pacers.get(key);
    if (!pacer) {
      pacer = new RequestPacer(rate);
      pacers.set(key, pacer);
    }
    return pacer;
  };
  // One adaptive pacer per Duo account (API host + integration key), whatever the connection.
  const accountPacers = new Map<string, AccountPacer>();
  const pacingFor = (config: ConnectionConfig): AccountPacer | false | undefined => {
    if (options.pacing === undefined || options.pacing === false) return options.pacing;
    const key = JSON.stringify([config.duo.apiHost.toLowerCase(), config.duo.integrationKey]);
    let pacer = accountPacers.get(key);
    if (!pacer) {
      pacer = new AccountPacer(options.pacing);
      accountPacers.set(key, pacer);
    }
    return pacer;
  };
  const stores = new Map<string, Promise<IdentityStore>>();

  const secretFailure = (config: ConnectionConfig, what: string, err: unknown): ApplicationFailure =>
    ApplicationFailure.nonRetryable(`connection ${config.connectionId}: Duo ${what}: ${err instanceof Error ? err.message : String(err)}`, 'SecretUnavailable');

  /** The secret key and CA bundle as they are now. */
  const duoSecrets = async (config: ConnectionConfig): Promise<{ secretKey: string; ca: string | undefined }> => {
    const secretKey = await resolveSecret(config.duo.secretKey, config.connectionId).catch((err: unknown) => {
      throw secretFailure(config, 'secret key', err);
    });
    const caRef = config.duo.caCertificates;
    let ca: string | undefined;
    if (caRef && 'pem' in caRef) ca = caRef.pem;
    else if (caRef) {
      ca = await resolveSecret(caRef, config.connectionId).catch((err: unknown) => {
        throw secretFailure(config, `caCertificates (${describeSecretRef(caRef)})`, err);
      });
    }
    return { secretKey, ca };
  };

  return {
    pageConcurrency: options.pageConcurrency ?? 8,
    failureMemo: new FailureMemo(),
    sharedPhones: new PerRunCache(),
    groupParents: new PerRunCache(),
    adminGroups: new PerRunCache(),
    async duo(config) {
      // Per connection: a client built with one connection's secret is never handed to another.
      const d = config.duo;
      const key = JSON.stringify([config.connectionId, d.apiHost, d.integrationKey, d.secretKey, d.requestsPerSecond, d.signatureVersion ?? 5, d.caCertificates ?? null]);
      const cached = duoClients.get(key);
      if (cached && now() - cached.checkedAt < secretTtlMs) return cached.client;
      const { secretKey, ca } = await duoSecrets(config);
      const fingerprint = createHash('sha256').update(secretKey).update('\0').update(ca ?? '').digest('hex');
      if (cached && cached.fingerprint === fingerprint) {
        cached.checkedAt = now();
        return cached.client;
      }
      const pacer = pacerFor(config);
      const pacing = pacingFor(config);
      let client: DuoClient;
      try {
        client = createDuoClient({
          ...options.duo,
          apiHost: d.apiHost,
          integrationKey: d.integrationKey,
          secretKey,
          signatureVersion: d.signatureVersion ?? 5,
          ...(ca ? { caCertificates: ca } : {}),
          ...(pacer ? { pacer } : {}),
          ...(pacing !== undefined ? { pacing } : {}),
          ...(options.instrumentation ? { observer: options.instrumentation.duoObserver(config.connectionId) } : {}),
          whileWaiting: { everyMs: options.pacingHeartbeatMs ?? 5_000, tick: beatIfInActivity },
        });
      } catch (err) {
        throw ApplicationFailure.nonRetryable(`connection ${config.connectionId}: Duo client: ${err instanceof Error ? err.message : String(err)}`, 'InvalidDuoConfig');
      }
      duoClients.set(key, { client, fingerprint, checkedAt: now() });
      return client;
    },
    store(config) {
      const key = JSON.stringify([config.connectionId, config.store]);
      let entry = stores.get(key);
      if (!entry) {
        entry = (async () => {
          try {
            const store = await createStore(config.store, { resolveSecret: (ref) => resolveSecret(ref, config.connectionId) });
            return options.instrumentation ? options.instrumentation.wrapStore(config.connectionId, store) : store;
          } catch (err) {
            throw ApplicationFailure.nonRetryable(`connection ${config.connectionId}: identity store: ${err instanceof Error ? err.message : String(err)}`, 'InvalidStoreConfig');
          }
        })();
        stores.set(key, entry);
        // A failed construction (bad config) must not be cached: the fix should take effect.
        entry.catch(() => stores.delete(key));
      }
      return entry;
    },
    resolveSecret: (ref, connectionId) => resolveSecret(ref, connectionId),
    async close() {
      const all = [...stores.values()];
      stores.clear();
      duoClients.clear();
      pacers.clear();
      accountPacers.clear();
      await Promise.allSettled(all.map(async (s) => (await s).close()));
    },
  };
}
