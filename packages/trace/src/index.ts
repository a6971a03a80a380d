/**
 * @agentsight/trace: intent to action. Reads the merged event stream (llm and mcp calls,
 * proc and stdio events) and links each LLM tool call to the processes it ran and the
 * files and connections under them (`trace/link` kind `tool_process`), each tool result
 * to the next LLM call that carried it (`tool_result`), and calls to their agent's session
 * (`session`), with a confidence and the reasons; and flags what deserves a look
 * (`trace/alert`: a tool call that ran something else, writes outside the project,
 * sensitive files, hosts never mentioned, loops of identical failing calls).
 * Used by `as-merge --correlate`, `as-serve` and `agentsight`.
 */
export { CorrelateStage, type CorrelateOptions, type CorrelateStats } from './correlate.js';
export { intentOf, shellWords, hostsIn, stableJson, type Intent } from './intent.js';
export { sensitiveReason, isInside, isWriteOpen } from './paths.js';
export { ProcTable, type Proc } from './procs.js';
export * as testing from './testing.js';
