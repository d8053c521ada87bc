/** Public surface of the Duo Admin API client (activity side only; workflows may import types). */
export * from './client';
export * from './config';
export * from './endpoint';
export * from './errors';
export * from './schemas';
export * from './signing';
export * from './pacer';
export * from './rate-categories';
