/**
 * @agentsight/agents: which processes are agents (Claude Code, Gemini CLI, Codex, Qwen Code,
 * opencode, Aider, Goose, Copilot CLI, Cursor agent, Amp; scripts on the official SDKs),
 * recognised by executable, package path and argv, or by their LLM traffic; and the
 * --allow/--deny selectors over processes that captures apply.
 */
export * from './classify.js';
export * from './facts.js';
export * from './processes.js';
export * from './selector.js';
export * from './table.js';
