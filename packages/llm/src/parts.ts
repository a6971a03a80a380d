// The normalized conversation every consumer reads (the OTLP mapper, the correlator, the web
// UI, report): messages with roles, made of parts in the OpenTelemetry GenAI conventions'
// shapes, plus what agentsight adds (injected context, tool errors). Each API module turns
// its own request items into these; nothing outside this package reads a provider's format.
import { parseJson } from '@agentsight/events';
import { text } from './util.js';

export type Role = 'system' | 'user' | 'assistant' | 'tool' | (string & {});

export interface TextPart {
  type: 'text';
  content: string;
  /** Context the agent added to the user's turn, not typed by the user (Claude Code's
   * `<system-reminder>`, Codex's `<environment_context>`). */
  injected?: true;
}
export interface ReasoningPart {
  type: 'reasoning';
  content: string;
}
export interface ToolCallPart {
  type: 'tool_call';
  id: string | null;
  name: string;
  arguments: unknown;
}
export interface ToolResultPart {
  type: 'tool_call_response';
  /** The tool call id it answers, as the client sent it (null when it sent none). */
  id: string | null;
  /** The tool's name, where the API carries it (Gemini). */
  name?: string;
  result: unknown;
  is_error?: true;
  /** May be paired with its call by name and order when the id matches none (Gemini:
   * clients answer with ids of their own). */
  by_name?: true;
}
/** Anything else (images, files, server tool blocks): the provider's block, kept whole. */
export interface OtherPart {
  type: string;
  content: unknown;
}

export type Part = TextPart | ReasoningPart | ToolCallPart | ToolResultPart | OtherPart;

export interface Message {
  role: Role;
  parts: Part[];
}

/** Tokens of one call, counted one way whatever the API: `input` includes cached input
 * (reads and writes), `output` includes reasoning; the others are parts of those. */
export interface TokenUsage {
  input?: number;
  output?: number;
  cache_read?: number;
  cache_write?: number;
  reasoning?: number;
}

export type Obj = Record<string, any>;
export const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

const INJECTED = /^\s*<(system-reminder|environment_context|user_instructions)>/;

export function textPart(content: string): TextPart {
  return INJECTED.test(content) ? { type: 'text', content, injected: true } : { type: 'text', content };
}

/** Tool arguments sent as a JSON string: parsed, or kept as the string. */
export function jsonArgs(s: unknown): unknown {
  if (typeof s !== 'string') return s;
  const r = parseJson(s);
  return r.ok ? r.value : s;
}

/** A tool result or content list: text blocks joined into a string; anything else kept. */
export function flatten(c: unknown): unknown {
  if (typeof c === 'string') return c;
  if (Array.isArray(c) && c.every((b) => isObj(b) && typeof b.text === 'string'))
    return c.map((b) => (b as Obj).text).join('');
  return c;
}

/** Parts of a content that is a string or a list of blocks with `text` (the shape most APIs share). */
export function contentParts(content: unknown): Part[] {
  if (typeof content === 'string') return [textPart(content)];
  if (!Array.isArray(content)) return [];
  const parts: Part[] = [];
  for (const p of content) {
    if (isObj(p))
      parts.push(typeof p.text === 'string' ? textPart(p.text) : { type: text(p.type, 'unknown'), content: p });
  }
  return parts;
}

/** Usage of the APIs that already count the normalized way (OpenAI's: cached input and
 * reasoning included). */
export function plainUsage(u: {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  reasoning_tokens?: number;
}): TokenUsage {
  return {
    ...(u.input_tokens !== undefined ? { input: u.input_tokens } : {}),
    ...(u.output_tokens !== undefined ? { output: u.output_tokens } : {}),
    ...(u.cache_read_input_tokens !== undefined ? { cache_read: u.cache_read_input_tokens } : {}),
    ...(u.cache_creation_input_tokens !== undefined ? { cache_write: u.cache_creation_input_tokens } : {}),
    ...(u.reasoning_tokens !== undefined ? { reasoning: u.reasoning_tokens } : {}),
  };
}
