/** Builders shared by the domain unit tests. */
import { ConnectionConfigSchema, type ConnectionConfig, type ConnectionConfigInput, type UserActions } from '../../src/domain/connection';
import type { DesiredDuoUser, StoreUser } from '../../src/domain/mapping';
import { phoneMarker, withMarker, type Owner } from '../../src/domain/ownership';
import type { DuoUserView } from '../../src/domain/plan';

export const OWNER: Owner = { connectionId: 'acme', ruleId: 'staff' };

export function baseConfig(overrides: Partial<ConnectionConfigInput> = {}): ConnectionConfigInput {
  return {
    connectionId: 'acme',
    duo: { apiHost: 'api-12345678.duosecurity.com', integrationKey: 'DIWJ8X6AEYOR5OMC6TQ1', secretKey: { env: 'DUO_SKEY' } },
    store: { kind: 'file', path: 'users.json' },
    ...overrides,
  };
}

export function parseConfig(overrides: Partial<ConnectionConfigInput> = {}): ConnectionConfig {
  return ConnectionConfigSchema.parse(baseConfig(overrides));
}

export function actions(overrides: Partial<UserActions> = {}): UserActions {
  return { create: true, update: true, disable: true, deprovision: true, removeAction: 'delete', deprovisionOnRuleDeletion: false, cleanupUnusedPhones: true, ...overrides };
}

export function storeUser(overrides: Partial<StoreUser> = {}): StoreUser {
  return {
    externalId: 'ext-1',
    username: 'ada',
    email: 'ada@example.com',
    phones: ['+44 20 7946 0958'],
    givenName: 'Ada',
    familyName: 'Lovelace',
    enabled: true,
    groupIds: ['g-staff'],
    attributes: {},
    ...overrides,
  };
}

export function desired(overrides: Partial<DesiredDuoUser> = {}): DesiredDuoUser {
  return {
    username: 'ada',
    email: 'ada@example.com',
    realname: 'Ada Lovelace',
    firstname: 'Ada',
    lastname: 'Lovelace',
    status: 'active',
    phone: { number: '+442079460958', type: 'mobile' },
    userType: 'user',
    ...overrides,
  };
}

/** The `name` of the phones OWNER's connection creates. */
export const OUR_PHONE = phoneMarker(OWNER.connectionId);

/** A Duo user matching `desired()` exactly and owned by OWNER, with a phone OWNER's connection created. */
export function owned(overrides: Partial<DuoUserView> = {}, owner: Owner = OWNER): DuoUserView {
  return {
    user_id: 'DU0000000000000000A1',
    username: 'ada',
    email: 'ada@example.com',
    realname: 'Ada Lovelace',
    firstname: 'Ada',
    lastname: 'Lovelace',
    status: 'active',
    notes: withMarker('', owner),
    phones: [{ phone_id: 'DP0000000000000000P1', number: '+442079460958', name: OUR_PHONE }],
    ...overrides,
  };
}
