/**
 * Per-worker cache of the clients a connection needs: a Duo client (secret resolved here, on the
 * activity side, from the connection's secret reference) and an identity-store adapter. Keyed by
 * the parts of the config they depend on, so a reconfigured connection gets fresh clients.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { loadSecretPolicy, resolveSecret as defaultResolveSecret, type SecretPolicy, type SecretRef } from '../config/secrets';
import { AccountPacer, DuoClient, RequestPacer, type AdaptivePacingOptions, type DuoClientOptions } from '../duo';
import type { ConnectionConfig } from '../domain/connection';
import { createStore as defaultCreateStore, type IdentityStore } from '../stores';

export interface ResourceOptions {
  /** Replaces secret resolution entirely (tests); the default resolves inside `secretPolicy`. */
  resolveSecret?: (ref: SecretRef, connectionId: string) => Promise<string>;
  /** What secret references this worker resolves (default: from DUO_SYNC_SECRET_* in its environment). */
  secretPolicy?: SecretPolicy;
  createStore?: typeof defaultCreateStore;
  /** Users of one page reconciled at once (default 8); each is a few dependent Duo calls. */
  pageConcurrency?: number;
  /**
   * Adaptive per-category pacing. Absent: real Duo accounts are paced by the process-wide pacer of
   * each account (the client's default, from Duo's known limits); a loopback sandbox is not. Given:
   * one AccountPacer per Duo account on this worker with these options, shared by every connection
   * of the account, sandbox included (e.g. `{ limits: 'duo', timeScale: k }`). false: no pacing.
   */
  pacing?: AdaptivePacingOptions | false;
  /** Extra Duo client options (timeouts, CA bundle). */
  duo?: Partial<Omit<DuoClientOptions, 'apiHost' | 'integrationKey' | 'secretKey'>>;
}

export interface ConnectionResources {
  readonly pageConcurrency: number;
  duo(config: ConnectionConfig): Promise<DuoClient>;
  store(config: ConnectionConfig): Promise<IdentityStore>;
  close(): Promise<void>;
}

export function createConnectionResources(options: ResourceOptions = {}): ConnectionResources {
  const policy = options.secretPolicy ?? loadSecretPolicy(process.env);
  const resolveSecret = options.resolveSecret ?? ((ref: SecretRef, connectionId: string) => defaultResolveSecret(ref, process.env, { policy, connectionId }));
  const createStore = options.createStore ?? defaultCreateStore;
  const duoClients = new Map<string, Promise<DuoClient>>();
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

  const cached = <T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> => {
    let entry = map.get(key);
    if (!entry) {
      entry = make();
      map.set(key, entry);
      // A failed construction (bad secret, bad config) must not be cached: the fix should take effect.
      entry.catch(() => map.delete(key));
    }
    return entry;
  };

  return {
    pageConcurrency: options.pageConcurrency ?? 8,
    duo(config) {
      // Per connection: a client built with one connection's secret is never handed to another.
      const key = JSON.stringify([config.connectionId, config.duo.apiHost, config.duo.integrationKey, config.duo.secretKey, config.duo.requestsPerSecond]);
      return cached(duoClients, key, async () => {
        let secretKey: string;
        try {
          secretKey = await resolveSecret(config.duo.secretKey, config.connectionId);
        } catch (err) {
          throw ApplicationFailure.nonRetryable(
            `connection ${config.connectionId}: Duo secret key: ${err instanceof Error ? err.message : String(err)}`,
            'SecretUnavailable',
          );
        }
        const pacer = pacerFor(config);
        const pacing = pacingFor(config);
        return new DuoClient({ ...options.duo, apiHost: config.duo.apiHost, integrationKey: config.duo.integrationKey, secretKey, ...(pacer ? { pacer } : {}), ...(pacing !== undefined ? { pacing } : {}) });
      });
    },
    store(config) {
      const key = JSON.stringify([config.connectionId, config.store]);
      return cached(stores, key, async () => {
        try {
          return await createStore(config.store, { resolveSecret: (ref) => resolveSecret(ref, config.connectionId) });
        } catch (err) {
          throw ApplicationFailure.nonRetryable(
            `connection ${config.connectionId}: identity store: ${err instanceof Error ? err.message : String(err)}`,
            'InvalidStoreConfig',
          );
        }
      });
    },
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
