// OpenAI Responses API (`POST …/responses`). Keeps a response snapshot the way the
// `openai` SDK's ResponseStream does: lifecycle events (created, in_progress, completed,
// failed, incomplete) replace it with the server's own object, item and part events
// patch it in place. Unlike the SDK, items are placed by `output_index` (the SDK appends,
// and rejects streams whose indexes are sparse), and an `error` event is recorded rather
// than thrown, so what arrives after it (response.failed) is still read.
import type { ToolCall } from '@agentsight/events';
import { contentParts, jsonArgs, type Message, plainUsage } from './parts.js';
import type { Accumulator, ApiModule, CallResult, Delta, RequestInfo } from './result.js';
import { isObj, type Obj, parseArgs, restParams, sseJson, str, text, usage } from './util.js';

const MAX_INDEX = 10000;

export class OpenAIResponsesAccumulator implements Accumulator {
  #snap: Obj | null = null;
  #output: Array<Obj | undefined> = [];
  #error: unknown;
  #errorBody = false;
  #bad: string | undefined;
  #done = false;

  get done(): boolean {
    return this.#done;
  }

  #replace(resp: unknown): void {
    if (!isObj(resp)) return;
    this.#snap = { ...resp };
    const out = Array.isArray(resp.output) ? resp.output : [];
    // Keep streamed items the server's object leaves out (an in_progress snapshot has none).
    if (out.length > 0 || this.#output.length === 0)
      this.#output = out.map((x: unknown) => (isObj(x) ? structuredClone(x) : undefined));
  }

  #item(ev: Obj): Obj | undefined {
    const i = ev.output_index;
    if (typeof i !== 'number' || i < 0 || i >= MAX_INDEX) return undefined;
    return this.#output[i];
  }

  #part(list: unknown, j: unknown): Obj | undefined {
    if (!Array.isArray(list) || typeof j !== 'number' || j < 0 || j >= MAX_INDEX) return undefined;
    const p = list[j] as unknown;
    return isObj(p) ? p : undefined;
  }

  sse(event: string | undefined, data: string): Delta[] {
    const ev = sseJson(data);
    if (!ev) {
      if (data.trim() !== '' && data.trim() !== '[DONE]')
        this.#bad ??= `invalid JSON in SSE data${event ? ` (${event})` : ''}`;
      return [];
    }
    const type = str(ev.type) ?? event ?? '';
    const idx = ev.output_index;
    switch (type) {
      case 'response.created':
      case 'response.in_progress':
      case 'response.queued':
        this.#replace(ev.response);
        return [];
      case 'response.completed':
      case 'response.failed':
      case 'response.incomplete':
        this.#replace(ev.response);
        this.#done = true;
        return [];
      case 'error':
        this.#error = isObj(ev.error) ? ev.error : { code: ev.code, message: ev.message, param: ev.param };
        return [];
      case 'response.output_item.added':
      case 'response.output_item.done':
        if (typeof idx === 'number' && idx >= 0 && idx < MAX_INDEX && isObj(ev.item))
          this.#output[idx] = structuredClone(ev.item);
        return [];
      case 'response.content_part.added':
      case 'response.content_part.done': {
        const it = this.#item(ev);
        const j = ev.content_index;
        if (!it || !isObj(ev.part) || typeof j !== 'number' || j < 0 || j >= MAX_INDEX) return [];
        if (!Array.isArray(it.content)) it.content = [];
        (it.content as unknown[])[j] = structuredClone(ev.part);
        return [];
      }
      case 'response.output_text.delta':
      case 'response.reasoning_text.delta': {
        const it = this.#item(ev);
        const p = it && this.#part(it.content, ev.content_index);
        if (!p || typeof ev.delta !== 'string') return [];
        p.text = (typeof p.text === 'string' ? p.text : '') + ev.delta;
        return ev.delta ? [{ kind: type === 'response.output_text.delta' ? 'text' : 'thinking', text: ev.delta }] : [];
      }
      case 'response.output_text.done':
      case 'response.reasoning_text.done': {
        const it = this.#item(ev);
        const p = it && this.#part(it.content, ev.content_index);
        if (p && typeof ev.text === 'string') p.text = ev.text;
        return [];
      }
      case 'response.reasoning_summary_part.added':
      case 'response.reasoning_summary_part.done': {
        const it = this.#item(ev);
        const j = ev.summary_index;
        if (!it || !isObj(ev.part) || typeof j !== 'number' || j < 0 || j >= MAX_INDEX) return [];
        if (!Array.isArray(it.summary)) it.summary = [];
        (it.summary as unknown[])[j] = structuredClone(ev.part);
        return [];
      }
      case 'response.reasoning_summary_text.delta': {
        const it = this.#item(ev);
        const p = it && this.#part(it.summary, ev.summary_index);
        if (!p || typeof ev.delta !== 'string') return [];
        p.text = (typeof p.text === 'string' ? p.text : '') + ev.delta;
        return ev.delta ? [{ kind: 'thinking', text: ev.delta }] : [];
      }
      case 'response.reasoning_summary_text.done': {
        const it = this.#item(ev);
        const p = it && this.#part(it.summary, ev.summary_index);
        if (p && typeof ev.text === 'string') p.text = ev.text;
        return [];
      }
      case 'response.function_call_arguments.delta':
      case 'response.custom_tool_call_input.delta': {
        const it = this.#item(ev) ?? this.#placeholder(idx, type);
        if (!it || typeof ev.delta !== 'string') return [];
        const key = it.type === 'custom_tool_call' ? 'input' : 'arguments';
        it[key] = (typeof it[key] === 'string' ? it[key] : '') + ev.delta;
        return ev.delta ? [{ kind: 'tool_call', text: ev.delta }] : [];
      }
      case 'response.function_call_arguments.done': {
        const it = this.#item(ev);
        if (it && typeof ev.arguments === 'string') it.arguments = ev.arguments;
        return [];
      }
      case 'response.custom_tool_call_input.done': {
        const it = this.#item(ev);
        if (it && typeof ev.input === 'string') it.input = ev.input;
        return [];
      }
      default:
        return [];
    }
  }

  /** A delta for an item whose `added` event is missing from the stream (seen in recordings). */
  #placeholder(idx: unknown, type: string): Obj | undefined {
    if (typeof idx !== 'number' || idx < 0 || idx >= MAX_INDEX) return undefined;
    const it: Obj =
      type === 'response.custom_tool_call_input.delta'
        ? { type: 'custom_tool_call', input: '' }
        : { type: 'function_call', arguments: '' };
    this.#output[idx] = it;
    return it;
  }

  body(json: unknown): void {
    if (!isObj(json)) {
      this.#bad ??= 'response body is not a JSON object';
      return;
    }
    if (json.error != null && json.output === undefined) {
      this.#error = json.error;
      this.#errorBody = true;
      return;
    }
    this.#replace(json);
    this.#done = true;
  }

  result(): CallResult {
    const s = this.#snap ?? {};
    let text = '';
    let thinking = '';
    const tool_calls: ToolCall[] = [];
    for (const it of this.#output) {
      if (!it) continue;
      if (it.type === 'message' && Array.isArray(it.content)) {
        for (const p of it.content)
          if (isObj(p) && p.type === 'output_text' && typeof p.text === 'string') text += p.text;
      } else if (it.type === 'reasoning') {
        for (const list of [it.summary, it.content]) {
          if (!Array.isArray(list)) continue;
          for (const p of list) if (isObj(p) && typeof p.text === 'string') thinking += p.text;
        }
      } else if (it.type === 'function_call') {
        tool_calls.push({
          id: str(it.call_id) ?? str(it.id),
          name: str(it.name) ?? '',
          arguments: parseArgs(str(it.arguments) ?? ''),
        });
      } else if (it.type === 'custom_tool_call') {
        tool_calls.push({
          id: str(it.call_id) ?? str(it.id),
          name: str(it.name) ?? '',
          arguments: str(it.input) ?? '',
        });
      }
    }
    const u = isObj(s.usage) ? s.usage : {};
    const idt = isObj(u.input_tokens_details) ? u.input_tokens_details : {};
    const odt = isObj(u.output_tokens_details) ? u.output_tokens_details : {};
    const r: CallResult = {
      id: str(s.id),
      model: str(s.model),
      text,
      thinking: thinking === '' ? null : thinking,
      tool_calls,
      finish_reason: str(s.status),
      usage: usage({
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: idt.cached_tokens,
        reasoning_tokens: odt.reasoning_tokens,
      }),
    };
    const err = this.#error ?? (s.error != null ? s.error : undefined);
    if (err !== undefined) r.error = err;
    const why = this.#errorBody
      ? undefined
      : this.#error !== undefined
        ? 'error event'
        : (this.#bad ??
          (!this.#snap ? 'no response' : !this.#done ? 'stream ended before response.completed' : undefined));
    if (why) r.incomplete = why;
    return r;
  }
}

/** One input item: a message, or a tool call or its output standing alone. */
function message(m: Obj): Message {
  const id = str(m.call_id) ?? str(m.id);
  if (m.type === 'function_call')
    return {
      role: 'assistant',
      parts: [{ type: 'tool_call', id, name: text(m.name, ''), arguments: jsonArgs(m.arguments) ?? null }],
    };
  if (m.type === 'custom_tool_call')
    return {
      role: 'assistant',
      parts: [{ type: 'tool_call', id, name: text(m.name, ''), arguments: m.input ?? null }],
    };
  if (m.type === 'function_call_output' || m.type === 'custom_tool_call_output') {
    return {
      role: 'tool',
      parts: [{ type: 'tool_call_response', id: str(m.call_id), result: jsonArgs(m.output) ?? null }],
    };
  }
  return { role: text(m.role, 'user'), parts: contentParts(m.content) };
}

export const openaiResponses: ApiModule = {
  api: 'openai.responses',
  provider: 'openai',
  operation: 'chat',
  message,
  usage: plainUsage,
  // Codex keys the prompt cache by its conversation id.
  session: (params) => (typeof params.prompt_cache_key === 'string' ? params.prompt_cache_key : undefined),
  request(body: unknown): RequestInfo {
    if (!isObj(body)) return { model: null, stream: false };
    const input = body.input;
    return {
      model: str(body.model),
      system: body.instructions,
      messages:
        typeof input === 'string' ? [{ role: 'user', content: input }] : Array.isArray(input) ? input : undefined,
      tools: Array.isArray(body.tools) ? body.tools : undefined,
      params: restParams(body, ['model', 'instructions', 'input', 'tools', 'stream']),
      stream: body.stream === true,
    };
  },
  accumulator: () => new OpenAIResponsesAccumulator(),
};
