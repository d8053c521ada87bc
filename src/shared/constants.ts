/** Names that are part of duo-sync's public Temporal contract (DESIGN §2). */
export const DEFAULT_TASK_QUEUE = 'duo-sync';
