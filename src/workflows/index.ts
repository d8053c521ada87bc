/** Every workflow the duo-sync worker hosts. Names here are public (docs/architecture.md): keep them stable. */
export { healthCheckWorkflow } from './health-check';
export { connectionWorkflow } from './connection';
export { fullSyncWorkflow } from './full-sync';
export { reconcileUserWorkflow } from './reconcile-user';
export { deleteRuleWorkflow } from './delete-rule';
export { reconcileGroupWorkflow } from './reconcile-group';
export { inboundSyncWorkflow } from './inbound-sync';
