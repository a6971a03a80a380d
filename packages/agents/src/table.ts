// The known agents: one row per agent, every way it is recognised. classify.ts reads a
// process against it; classifyByTraffic reads a call's User-Agent against it. A new agent
// (or a new install layout of one) is a row or a string here and nothing else.

export interface AgentRow {
  /** Stable identity: what `agent:ID` selectors and outputs name. */
  id: string;
  /** For people. */
  name: string;
  /**
   * Names the program is installed or started under: the executable's or argv[0]'s base
   * name, the kernel's comm, or the base name of the script an interpreter runs (`node
   * /usr/local/bin/gemini`), a trailing .js/.mjs/.cjs/.py left off.
   */
  names?: string[];
  /**
   * With `names`: a name alone is not enough when another well-known program shares it;
   * then argv[1] must be one of these (or absent).
   */
  subcommands?: string[];
  /**
   * Path fragments of its packages and install directories, matched in the executable's
   * path and in the script an interpreter runs (most specific: tried before names).
   */
  paths?: string[];
  /** `python -m MODULE`. */
  modules?: string[];
  /** Prefixes of the User-Agent header its model calls carry (case-insensitive). */
  userAgents?: string[];
}

export const AGENTS: readonly AgentRow[] = [
  {
    id: 'claude-code',
    name: 'Claude Code',
    names: ['claude'],
    paths: [
      // The native installer: ~/.local/share/claude/versions/2.1.197 (the file is the version).
      '/claude/versions/',
      // npm: the native binary's platform package, or the older node bundle.
      '/@anthropic-ai/claude-code-linux-',
      '/@anthropic-ai/claude-code/',
    ],
    userAgents: ['claude-cli/', 'claude-code/'],
  },
  {
    id: 'gemini-cli',
    name: 'Gemini CLI',
    names: ['gemini'],
    paths: ['/@google/gemini-cli/'],
    // GeminiCLI/0.61.0 (linux; x64), or GeminiCLI-tui/0.61.0/MODEL (linux; x64; terminal)
    userAgents: ['GeminiCLI/', 'GeminiCLI-'],
  },
  {
    id: 'codex',
    name: 'Codex',
    names: ['codex'],
    // The npm launcher (bin/codex.js) and the native binary it starts.
    paths: ['/@openai/codex/', '/@openai/codex-linux-', '/codex/vendor/'],
    userAgents: ['codex_cli_rs/', 'codex_exec/', 'codex_vscode/'],
  },
  {
    id: 'qwen-code',
    name: 'Qwen Code',
    names: ['qwen'],
    paths: ['/@qwen-code/qwen-code/'],
    userAgents: ['QwenCode/', 'QwenCode-'],
  },
  {
    id: 'opencode',
    name: 'opencode',
    names: ['opencode'],
    paths: ['/opencode-ai/', '/opencode-linux-', '/.opencode/bin/'],
    userAgents: ['opencode/'],
  },
  {
    id: 'aider',
    name: 'Aider',
    names: ['aider'],
    paths: ['/site-packages/aider/', '/aider-chat/', '/aider-install/'],
    modules: ['aider', 'aider.main'],
  },
  {
    id: 'goose',
    name: 'Goose',
    names: ['goose'],
    // pressly/goose, a database migration tool, is also `goose`: it takes a driver or a
    // command like `up` first, never these.
    subcommands: ['session', 's', 'run', 'web', 'configure', 'info', 'mcp', 'project', 'projects', 'recipe'],
    paths: ['/goose-cli/', '/Goose.app/'],
  },
  {
    id: 'copilot-cli',
    name: 'Copilot CLI',
    names: ['copilot'],
    paths: ['/@github/copilot/'],
  },
  {
    id: 'cursor-agent',
    name: 'Cursor agent',
    names: ['cursor-agent'],
    // ~/.local/share/cursor-agent/versions/2025.09.18-7ae6800/{node,index.js}
    paths: ['/cursor-agent/versions/'],
  },
  {
    id: 'amp',
    name: 'Amp',
    names: ['amp'],
    paths: ['/@sourcegraph/amp/'],
  },
  // Scripts on the official SDKs: recognised by the User-Agent the SDK sends (cheap, and
  // exact, where reading a script's imports is neither).
  { id: 'anthropic-sdk-python', name: 'Anthropic SDK (python)', userAgents: ['Anthropic/Python'] },
  { id: 'anthropic-sdk-node', name: 'Anthropic SDK (node)', userAgents: ['Anthropic/JS'] },
  { id: 'openai-sdk-python', name: 'OpenAI SDK (python)', userAgents: ['OpenAI/Python'] },
  { id: 'openai-sdk-node', name: 'OpenAI SDK (node)', userAgents: ['OpenAI/JS'] },
  { id: 'google-genai-sdk', name: 'Google Gen AI SDK', userAgents: ['google-genai-sdk/'] },
];

/** Interpreters whose first non-option argument is the program that matters. */
export const INTERPRETERS = /^(node|nodejs|bun|deno|python(\d+(\.\d+)?)?|pypy\d*)$/;

/** The id of a process recognised only by making LLM calls. */
export const LLM_CLIENT_ID = 'llm-client';
