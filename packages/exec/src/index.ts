/**
 * @agentsight/exec: an agent traced end to end in one process. `execTraced` starts it
 * gated (@agentsight/launch), attaches every capture (TLS, proc, stdio), chains the same
 * stages the standalone tools use (http, merge, correlate, and optionally OTLP), and
 * returns its exit status; `recordTraced` does the same for processes started elsewhere.
 */
export * from './pipeline.js';
export * from './run.js';
