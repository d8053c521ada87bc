/** Every workflow the duo-sync worker hosts. Names here are public (DESIGN §2): keep them stable. */
export { healthCheckWorkflow } from './health-check';
