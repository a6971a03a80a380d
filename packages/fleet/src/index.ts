/**
 * @agentsight/fleet: many hosts, one place. Events into ClickHouse (a documented MergeTree
 * table, written by a sink with a bounded on-disk buffer and retries), and read back for
 * as-serve with a host filter.
 */
export * from './api.js';
export * from './buffer.js';
export * from './query.js';
export * from './schema.js';
export * from './sink.js';
export * from './testing.js';
