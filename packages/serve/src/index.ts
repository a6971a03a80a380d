/**
 * @agentsight/serve: what `as-serve` is made of. An SQLite event store (redacted raw
 * events plus derived tables for LLM calls, processes, what each process touched, and
 * resource samples), ingest from live streams and NDJSON files (rotated, gzipped,
 * resumable), the read-only JSON API with a server-sent-events live feed, and the
 * HTTP server that also serves the bundled UI from packages/ui/dist.
 */

export type * from './api.js';
export * from './ingest.js';
export * from './mock.js';
export * from './params.js';
export * from './query.js';
export * from './read.js';
export * from './restart.js';
export * from './retention.js';
export * from './server.js';
export * from './sessions.js';
export * from './store.js';
export * from './tail.js';
