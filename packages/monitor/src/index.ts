/**
 * @agentsight/monitor: `agentsight monitor`, the long-running service. The host-wide capture
 * pipeline of @agentsight/exec into one bounded SQLite store (@agentsight/serve), the record
 * of its own runs (start, stop, gaps, cost), the UI while it runs, and its systemd unit.
 */
export * from './gap.js';
export * from './k8s.js';
export * from './lock.js';
export * from './monitor.js';
export * from './recent.js';
export * from './service.js';
export * from './units.js';
