/**
 * @agentsight/report: answers from a capture without the UI. Token counts and estimated
 * cost by model, provider, process and day (prices from @agentsight/llm's table, overridable),
 * an audit of processes run, files written and hosts contacted, the prompts sent, and the
 * short summary `agentsight exec` prints at exit.
 */

export * from './format.js';
export * from './report.js';
export * from './sessions.js';
