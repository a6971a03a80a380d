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
export { type CorrelateOptions, CorrelateStage, type CorrelateStats } from './correlate.js';
export {
  FILTER_NAMES,
  FilterError,
  parseFilter,
  parseTime,
  type SessionFacts,
  type SessionFilter,
  sessionMatches,
} from './filter.js';
export { hostsIn, type Intent, intentOf, shellWords, stableJson } from './intent.js';
export { isInside, isWriteOpen, sensitiveReason } from './paths.js';
export { type Proc, ProcTable } from './procs.js';
export {
  agentName,
  type CallSession,
  ownWords,
  type ProcMove,
  type RunInfo,
  SessionTracker,
  SUBAGENT_TOOLS,
} from './sessions.js';
export * as testing from './testing.js';
