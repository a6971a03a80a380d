/**
 * @agentsight/top: `agentsight top`, the live terminal view. The model folds events (from
 * the monitor's store, followed read-only, or a capture of its own) into agents, their
 * processes, files, network endpoints and models; table.ts turns them into the views the
 * terminal UI (Ink) and `--plain` draw; `--json` prints the snapshot (TOP_SCHEMA).
 */
export * from './model.js';
export * from './run.js';
export * from './schema.js';
export * from './source.js';
export * from './table.js';
