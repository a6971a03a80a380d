// Provider request/response shapes -> the GenAI conventions' message JSON
// (gen_ai.input.messages, gen_ai.output.messages, gen_ai.system_instructions).
// Parts: {type:"text",content}, {type:"tool_call",id,name,arguments},
// {type:"tool_call_response",id,result}, {type:"reasoning",content}.
import type { LlmApi, LlmCallEvent } from '@agentsight/events';

export type Part = Record<string, unknown> & { type: string };
export interface ChatMessage { role: string; parts: Part[]; finish_reason?: string }

type Obj = Record<string, any>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

function parseArgs(s: unknown): unknown {
  if (typeof s !== 'string') return s;
  try { return JSON.parse(s); } catch { return s; }
}

/** Text of a tool result or content list: strings joined; other blocks kept as JSON. */
function flatten(c: unknown): unknown {
  if (typeof c === 'string') return c;
  if (Array.isArray(c) && c.every((b) => isObj(b) && typeof b.text === 'string')) return c.map((b) => (b as Obj).text).join('');
  return c;
}

function anthropicParts(content: unknown): Part[] {
  if (typeof content === 'string') return [{ type: 'text', content }];
  if (!Array.isArray(content)) return [];
  const parts: Part[] = [];
  for (const b of content) {
    if (!isObj(b)) continue;
    switch (b.type) {
      case 'text': parts.push({ type: 'text', content: String(b.text ?? '') }); break;
      case 'thinking': parts.push({ type: 'reasoning', content: String(b.thinking ?? '') }); break;
      case 'tool_use': parts.push({ type: 'tool_call', id: b.id ?? null, name: b.name, arguments: b.input ?? null }); break;
      case 'tool_result': parts.push({ type: 'tool_call_response', id: b.tool_use_id ?? null, result: flatten(b.content) ?? null }); break;
      default: parts.push({ type: String(b.type ?? 'unknown'), content: b }); break;
    }
  }
  return parts;
}

function openaiChatMessage(m: Obj): ChatMessage {
  const parts: Part[] = [];
  if (m.role === 'tool') {
    return { role: 'tool', parts: [{ type: 'tool_call_response', id: m.tool_call_id ?? null, result: flatten(m.content) ?? null }] };
  }
  if (typeof m.content === 'string') parts.push({ type: 'text', content: m.content });
  else if (Array.isArray(m.content)) {
    for (const p of m.content) {
      if (isObj(p) && typeof p.text === 'string') parts.push({ type: 'text', content: p.text });
      else if (isObj(p)) parts.push({ type: String(p.type ?? 'unknown'), content: p });
    }
  }
  for (const tc of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
    if (isObj(tc)) parts.push({ type: 'tool_call', id: tc.id ?? null, name: tc.function?.name, arguments: parseArgs(tc.function?.arguments) ?? null });
  }
  return { role: String(m.role ?? 'user'), parts };
}

function responsesItem(m: Obj): ChatMessage {
  if (m.type === 'function_call') return { role: 'assistant', parts: [{ type: 'tool_call', id: m.call_id ?? m.id ?? null, name: m.name, arguments: parseArgs(m.arguments) ?? null }] };
  if (m.type === 'custom_tool_call') return { role: 'assistant', parts: [{ type: 'tool_call', id: m.call_id ?? m.id ?? null, name: m.name, arguments: m.input ?? null }] };
  if (m.type === 'function_call_output' || m.type === 'custom_tool_call_output') {
    return { role: 'tool', parts: [{ type: 'tool_call_response', id: m.call_id ?? null, result: parseArgs(m.output) ?? null }] };
  }
  const parts: Part[] = [];
  if (typeof m.content === 'string') parts.push({ type: 'text', content: m.content });
  else if (Array.isArray(m.content)) {
    for (const p of m.content) if (isObj(p)) parts.push(typeof p.text === 'string' ? { type: 'text', content: p.text } : { type: String(p.type ?? 'unknown'), content: p });
  }
  return { role: String(m.role ?? 'user'), parts };
}

function geminiContent(m: Obj): ChatMessage {
  const parts: Part[] = [];
  for (const p of Array.isArray(m.parts) ? m.parts : []) {
    if (!isObj(p)) continue;
    if (typeof p.text === 'string') parts.push({ type: p.thought ? 'reasoning' : 'text', content: p.text });
    else if (isObj(p.functionCall)) parts.push({ type: 'tool_call', id: p.functionCall.id ?? null, name: p.functionCall.name, arguments: p.functionCall.args ?? null });
    else if (isObj(p.functionResponse)) parts.push({ type: 'tool_call_response', id: p.functionResponse.id ?? null, name: p.functionResponse.name, result: p.functionResponse.response ?? null });
    else parts.push({ type: 'unknown', content: p });
  }
  return { role: m.role === 'model' ? 'assistant' : String(m.role ?? 'user'), parts };
}

/** The chat history sent to the model, in the conventions' input-messages shape. */
export function inputMessages(api: LlmApi, messages: unknown[] | undefined): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of messages ?? []) {
    if (typeof m === 'string') { out.push({ role: 'user', parts: [{ type: 'text', content: m }] }); continue; }
    if (!isObj(m)) continue;
    switch (api) {
      case 'anthropic.messages': out.push({ role: String(m.role ?? 'user'), parts: anthropicParts(m.content) }); break;
      case 'openai.chat': out.push(openaiChatMessage(m)); break;
      case 'openai.responses': out.push(responsesItem(m)); break;
      case 'gemini': out.push(geminiContent(m)); break;
      default: out.push({ role: String(m.role ?? 'user'), parts: [{ type: 'text', content: JSON.stringify(m) }] });
    }
  }
  return out;
}

/** System instructions given apart from the history, as text parts. */
export function systemInstructions(system: unknown): Part[] | undefined {
  if (system === undefined || system === null) return undefined;
  if (typeof system === 'string') return system ? [{ type: 'text', content: system }] : undefined;
  const list = Array.isArray(system) ? system : isObj(system) && Array.isArray(system.parts) ? system.parts : [system];
  const parts: Part[] = [];
  for (const b of list) {
    if (typeof b === 'string') parts.push({ type: 'text', content: b });
    else if (isObj(b) && typeof b.text === 'string') parts.push({ type: 'text', content: b.text });
    else if (isObj(b) && typeof b.content === 'string') parts.push({ type: 'text', content: b.content });
  }
  return parts.length ? parts : undefined;
}

/** Provider stop reasons -> the output-messages schema's finish_reason values. */
export function normFinishReason(r: string | null | undefined): string | undefined {
  if (!r) return undefined;
  switch (r.toLowerCase()) {
    case 'end_turn': case 'stop': case 'stop_sequence': case 'completed': case 'pause_turn': return 'stop';
    case 'max_tokens': case 'length': case 'incomplete': case 'model_context_window_exceeded': return 'length';
    case 'tool_use': case 'tool_calls': case 'function_call': return 'tool_call';
    case 'content_filter': case 'safety': case 'refusal': case 'blocklist': case 'prohibited_content': case 'recitation': return 'content_filter';
    case 'failed': case 'error': return 'error';
    default: return r;
  }
}

/** The model's answer as one assistant message (one choice). */
export function outputMessages(ev: LlmCallEvent): ChatMessage[] {
  const r = ev.response;
  const parts: Part[] = [];
  if (r.thinking) parts.push({ type: 'reasoning', content: r.thinking });
  if (r.text) parts.push({ type: 'text', content: r.text });
  for (const tc of r.tool_calls) parts.push({ type: 'tool_call', id: tc.id, name: tc.name, arguments: tc.arguments ?? null });
  const msg: ChatMessage = { role: 'assistant', parts };
  const fr = normFinishReason(r.finish_reason);
  if (fr) msg.finish_reason = fr;
  return [msg];
}

export interface ToolOutcome { result: unknown; isError: boolean }

/**
 * Results of earlier tool calls carried in a request's history, keyed by tool call id
 * (and by `name:<tool>` for Gemini calls, which often have no id).
 */
export function toolResults(api: LlmApi, messages: unknown[] | undefined): Map<string, ToolOutcome> {
  const out = new Map<string, ToolOutcome>();
  for (const m of messages ?? []) {
    if (!isObj(m)) continue;
    if (api === 'anthropic.messages' && Array.isArray(m.content)) {
      for (const b of m.content) {
        if (isObj(b) && b.type === 'tool_result' && typeof b.tool_use_id === 'string') out.set(b.tool_use_id, { result: flatten(b.content) ?? null, isError: b.is_error === true });
      }
    } else if (api === 'openai.chat' && m.role === 'tool' && typeof m.tool_call_id === 'string') {
      out.set(m.tool_call_id, { result: flatten(m.content) ?? null, isError: false });
    } else if (api === 'openai.responses' && (m.type === 'function_call_output' || m.type === 'custom_tool_call_output') && typeof m.call_id === 'string') {
      out.set(m.call_id, { result: parseArgs(m.output) ?? null, isError: false });
    } else if (api === 'gemini' && Array.isArray(m.parts)) {
      for (const p of m.parts) {
        const fr = isObj(p) ? p.functionResponse : undefined;
        if (!isObj(fr)) continue;
        const o = { result: fr.response ?? null, isError: isObj(fr.response) && 'error' in fr.response };
        if (typeof fr.id === 'string') out.set(fr.id, o);
        if (typeof fr.name === 'string') out.set(`name:${fr.name}`, o);
      }
    }
  }
  return out;
}
