/**
 * The pure domain of duo-sync: configuration contract, scope, mapping, ownership marker, per-user
 * plan, safety gates and run summaries. Deterministic and I/O-free, so workflows and activities
 * share it.
 */
export * from './secret-ref';
export * from './connection';
export * from './scope';
export * from './mapping';
export * from './ownership';
export * from './plan';
export * from './guards';
export * from './summary';
export * from './inbound';
