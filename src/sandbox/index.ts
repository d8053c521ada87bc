/** Public surface of the Duo Admin API sandbox (tests, benchmarks, demo). */
export * from './auth';
export * from './bulk';
export * from './faults';
export * from './random';
export * from './server';
export * from './store';
