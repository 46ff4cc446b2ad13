export * from './child.ts';
export * from './redis-server.ts';
export * from './redis-url.ts';
export * from './wait.ts';
export * from './queues.ts';
export * from './key-dump.ts';
