/**
 * duo-sync's public Temporal contract: workflow ids, messages and payload schemas, results, failure
 * types and search attributes. Workflows, activities, the client and the CLI all import it from here;
 * nothing outside the worker's workflow bundle imports src/workflows.
 */
export * from './ids';
export * from './failures';
export * from './messages';
export * from './status';
export * from './runs';
export * from './search-attributes';
export * from './operations';
