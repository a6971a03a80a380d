import type { Api, MockRequest, Reply, ToolCall, Usage } from './reply.js';

/** A reply with every default filled in, ready for any API's renderer. */
export interface Plan {
  api: Api;
  seq: number;
  id: string;
  model: string;
  text: string;
  thinking: string;
  toolCalls: Array<{ id: string; name: string; argsText: string; args: Record<string, unknown>; explicitId: boolean }>;
  usage: Usage;
  /** API-neutral: 'stop' | 'length' | 'tool_calls' | another string passed through. */
  stop: string;
  chunkSize: number;
  created: number;
  request: MockRequest;
}

/** The model the mock answers as when neither the script nor the request names one. */
export const DEFAULT_MODEL: Record<Api, string> = {
  'anthropic.messages': 'claude-mock-1',
  'openai.chat': 'gpt-mock-1',
  'openai.responses': 'gpt-mock-1',
  gemini: 'gemini-mock-1',
};

const NEUTRAL_STOP: Record<string, string> = {
  stop: 'stop',
  end_turn: 'stop',
  stop_sequence: 'stop',
  STOP: 'stop',
  length: 'length',
  max_tokens: 'length',
  MAX_TOKENS: 'length',
  tool_calls: 'tool_calls',
  tool_use: 'tool_calls',
};

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function textOfParts(content: unknown, keys: string[]): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p) => {
      if (typeof p === 'string') return p;
      if (!isObj(p)) return '';
      for (const k of keys) if (typeof p[k] === 'string') return p[k] as string;
      return '';
    })
    .filter(Boolean)
    .join(' ');
}

function toolResultText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v ?? null);
}

/**
 * The last thing the user (or a tool, in an agent loop) said, in any of the four APIs'
 * request shapes, so the default reply can echo it.
 */
export function lastUserText(api: Api | null, body: unknown): string {
  if (!isObj(body)) return '';
  if (api === 'anthropic.messages' || api === 'openai.chat') {
    const msgs = Array.isArray(body.messages) ? body.messages.filter(isObj) : [];
    for (let i = msgs.length - 1; i >= 0; i--) {
      const m = msgs[i]!;
      if (m.role === 'tool') return `tool result: ${textOfParts(m.content, ['text'])}`;
      if (m.role !== 'user') continue;
      if (Array.isArray(m.content)) {
        const results = m.content.filter((b) => isObj(b) && b.type === 'tool_result') as Json[];
        if (results.length) return `tool result: ${results.map((r) => textOfParts(r.content, ['text'])).join(' ')}`;
      }
      return textOfParts(m.content, ['text']);
    }
    return '';
  }
  if (api === 'openai.responses') {
    if (typeof body.input === 'string') return body.input;
    const items = Array.isArray(body.input) ? body.input.filter(isObj) : [];
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i]!;
      if (it.type === 'function_call_output' || it.type === 'custom_tool_call_output')
        return `tool result: ${toolResultText(it.output)}`;
      if (it.role === 'user') return textOfParts(it.content, ['text']);
    }
    return '';
  }
  if (api === 'gemini') {
    const contents = Array.isArray(body.contents) ? body.contents.filter(isObj) : [];
    for (let i = contents.length - 1; i >= 0; i--) {
      const c = contents[i]!;
      if (c.role !== undefined && c.role !== 'user' && c.role !== 'function') continue;
      const parts = Array.isArray(c.parts) ? c.parts.filter(isObj) : [];
      const fr = parts.filter((p) => isObj(p.functionResponse));
      if (fr.length)
        return `tool result: ${fr.map((p) => toolResultText((p.functionResponse as Json).response)).join(' ')}`;
      return textOfParts(parts, ['text']);
    }
  }
  return '';
}

export function defaultText(req: MockRequest): string {
  let said = lastUserText(req.api, req.json).replace(/\s+/g, ' ').trim();
  if (said.length > 200) said = `${said.slice(0, 197)}...`;
  return said ? `Mock reply to: "${said}"` : 'Mock reply.';
}

const estimateTokens = (s: string) => Math.max(1, Math.ceil(s.length / 4));

export function makePlan(api: Api, reply: Reply, req: MockRequest, seq: number, chunkSizeDefault: number): Plan {
  const tools = reply.toolCalls ?? [];
  const text = reply.text ?? (tools.length ? '' : defaultText(req));
  const thinking = reply.thinking ?? '';
  const idPrefix = api === 'anthropic.messages' ? 'toolu_mock' : 'call_mock';
  const toolCalls = tools.map((t: ToolCall, i) => {
    const argsText = typeof t.arguments === 'string' ? t.arguments : JSON.stringify(t.arguments ?? {});
    let args: Record<string, unknown> = {};
    if (typeof t.arguments === 'string') {
      try {
        const v = JSON.parse(t.arguments) as unknown;
        if (isObj(v)) args = v;
      } catch {
        /* malformed on purpose */
      }
    } else if (isObj(t.arguments)) args = t.arguments;
    return {
      id: t.id ?? `${idPrefix}_${String(seq).padStart(4, '0')}_${i}`,
      name: t.name,
      argsText,
      args,
      explicitId: t.id !== undefined,
    };
  });
  const outLen = text + thinking + toolCalls.map((t) => t.name + t.argsText).join('');
  const u = reply.usage ?? {};
  const usage: Usage = {
    input_tokens: u.input_tokens ?? estimateTokens(req.body),
    output_tokens: u.output_tokens ?? estimateTokens(outLen),
  };
  for (const k of ['cache_read_input_tokens', 'cache_creation_input_tokens', 'reasoning_tokens'] as const) {
    if (u[k] !== undefined) usage[k] = u[k];
  }
  if (usage.reasoning_tokens === undefined && thinking) usage.reasoning_tokens = estimateTokens(thinking);
  const stopIn = reply.stopReason ?? (toolCalls.length ? 'tool_calls' : 'stop');
  return {
    api,
    seq,
    id: String(seq).padStart(6, '0'),
    model: reply.model ?? req.model ?? DEFAULT_MODEL[api],
    text,
    thinking,
    toolCalls,
    usage,
    stop: NEUTRAL_STOP[stopIn] ?? stopIn,
    chunkSize: Math.max(1, reply.chunkSize ?? chunkSizeDefault),
    created: Math.floor(req.receivedAt / 1000),
    request: req,
  };
}

/** Split by code points so a delta never ends inside a surrogate pair. */
export function pieces(s: string, size: number): string[] {
  if (s === '') return [];
  const cps = Array.from(s);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
  return out;
}
