// Context an agent adds to a turn (Claude Code's <system-reminder> blocks: agent types, skill
// and tool lists, CLAUDE.md, dates; Codex's <environment_context>): taken out of the text so
// that the user's own words come first, and labelled so the folded block says what it holds.
// packages/llm marks a part that starts with such a block `injected`; a part may also carry
// blocks after the user's words, so the blocks are found wherever they are. Pure functions:
// test/ui-scale.test.ts runs them in Node.

const BLOCK = /<(system-reminder|environment_context|user_instructions)>[\s\S]*?<\/\1>/g;

export interface Split {
  /** The user's own words, blocks removed (may be empty). */
  own: string;
  /** The injected blocks, each whole with its tags. */
  blocks: string[];
}

export function splitInjected(text: string): Split {
  const blocks: string[] = [];
  const own = text.replace(BLOCK, (m) => {
    blocks.push(m);
    return '';
  });
  // An opening tag never closed (a cut capture): all of it is injected.
  const open = /^\s*<(system-reminder|environment_context|user_instructions)>/.exec(own);
  if (open) return { own: '', blocks: [...blocks, own.trim()] };
  return { own: own.replace(/^\s+|\s+$/g, ''), blocks };
}

/** What an injected block holds, in a few words, for its folded label. */
export function injectedLabel(block: string): string {
  const b = block.slice(0, 4000);
  if (/^\s*<environment_context>/.test(b)) return 'environment';
  if (/^\s*<user_instructions>/.test(b)) return 'user instructions (AGENTS.md)';
  if (/claudeMd|CLAUDE\.md/.test(b)) return 'CLAUDE.md';
  if (/subagent_type|agent types|Available agents/i.test(b)) return 'agent types';
  if (/skills?\b.*(available|invoke)|available skills|<skill/i.test(b)) return 'skills';
  if (/deferred tools|available tools|tool list|MCP (server|tools)/i.test(b)) return 'tool list';
  if (/todo( list)?|TodoWrite/i.test(b)) return 'todo reminder';
  if (/<env>|Working directory:|Platform:|OS Version|Is directory a git repo/i.test(b)) return 'environment';
  if (/today's date|currentDate|current date/i.test(b)) return 'date';
  if (/malicious|security/i.test(b)) return 'safety reminder';
  if (/file (was|has been) (modified|changed)|opened the file|selected the following/i.test(b)) return 'editor state';
  return 'system reminder';
}

/** A summary for several blocks: "injected context: CLAUDE.md, skills, date". */
export function injectedSummary(blocks: string[]): string {
  const labels = [...new Set(blocks.map(injectedLabel))];
  const kb = blocks.reduce((n, b) => n + b.length, 0) / 1024;
  return `injected context (${blocks.length === 1 ? '1 block' : `${blocks.length} blocks`}, ${kb < 10 ? kb.toFixed(1) : Math.round(kb)} KB): ${labels.join(', ')}`;
}
