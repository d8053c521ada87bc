/**
 * Public face of the identity-store layer (activity side only): the `IdentityStore` contract, the
 * config schema, scope/filter language, errors, and `createStore`, which validates a config and
 * returns the matching adapter. Workflows must not import this module (it does I/O).
 */
import { resolveSecret as defaultResolveSecret, type SecretRef } from '../config/secrets';
import { StoreConfigSchema, type ParsedStoreConfig } from '../domain/store-config';
import { StoreError } from './errors';
import { FileStore } from './file';
import { LdapStore } from './ldap';
import { ScimStore } from './scim';
import type { IdentityStore } from './types';

export * from './types';
export * from './errors';
export * from './filter';
export * from '../domain/store-config';
export { FileStore, DirectoryFileSchema, type DirectoryFile } from './file';
export { LdapStore, type SecretResolver } from './ldap';
export { ScimStore } from './scim';

export interface CreateStoreOptions {
  /** Resolves secret references (default: env/file via src/config/secrets). */
  resolveSecret?: (ref: SecretRef) => Promise<string>;
}

/**
 * Validates `config` and builds its adapter. Nothing connects yet; the first call does (so a
 * worker can start while the store is down). Invalid config throws StoreError('invalid_config').
 */
export function createStore(config: unknown, options: CreateStoreOptions = {}): IdentityStore {
  const parsed = parseStoreConfig(config);
  const resolveSecret = options.resolveSecret ?? ((ref: SecretRef) => defaultResolveSecret(ref));
  switch (parsed.kind) {
    case 'file':
      return new FileStore(parsed);
    case 'ldap':
      return new LdapStore(parsed, resolveSecret);
    case 'scim':
      return new ScimStore(parsed, resolveSecret);
  }
}

export function parseStoreConfig(config: unknown): ParsedStoreConfig {
  const r = StoreConfigSchema.safeParse(config);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'store'}: ${i.message}`);
  throw new StoreError('invalid_config', `invalid identity store configuration: ${issues.join('; ')}`);
}
