/**
 * The closed set of failure types duo-sync's workflows and updates raise. Clients and the CLI
 * branch on these (e.g. exit codes, hints), so a new type is added here first.
 */
export const FAILURE_TYPES = [
  'InvalidInput',
  'NotConfigured',
  'NotProvisioning',
  'UnknownConnection',
  'UnknownRule',
  'RuleStillConfigured',
  'NotAwaitingApproval',
  'DeletionSetMismatch',
  'ReconcileFailed',
  'RunAlreadyRunning',
  /** The connection is being deleted: it takes no more changes. */
  'ConnectionDeleting',
] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];

export function isFailureType(value: string | undefined): value is FailureType {
  return value !== undefined && (FAILURE_TYPES as readonly string[]).includes(value);
}
