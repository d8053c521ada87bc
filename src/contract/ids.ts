/**
 * Workflow ids and the task queue: public names ops type into the Web UI, derived from business keys
 * so a connection's runs can be found without a database.
 */
export const DEFAULT_TASK_QUEUE = 'duo-sync';

export type RunKind = 'fullSync' | 'inboundSync' | 'reconcileUser' | 'reconcileGroup' | 'deleteRule';

/** The entity of one connection lives under this id for its whole life. */
export function connectionWorkflowId(connectionId: string): string {
  return `connection/${connectionId}`;
}

const RUN_ID_PREFIX: Record<RunKind, string> = {
  fullSync: 'full-sync',
  inboundSync: 'inbound-sync',
  reconcileUser: 'reconcile',
  reconcileGroup: 'reconcile-group',
  deleteRule: 'delete-rule',
};

/** The id of the entity's `seq`-th child run, e.g. `full-sync/acme/12`. */
export function runWorkflowId(kind: RunKind, connectionId: string, seq: number): string {
  return `${RUN_ID_PREFIX[kind]}/${connectionId}/${seq}`;
}
