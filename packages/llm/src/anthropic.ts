// Anthropic Messages API (`POST /v1/messages`), streaming and not. Accumulates the stream
// the way @anthropic-ai/sdk's MessageStream does, but tolerates what the SDK rejects:
// a repeated message_start restarts the message (the later one is what the server
// meant), deltas for unknown blocks are dropped, and invalid tool-input JSON is kept
// as the raw string.
import type { ToolCall } from '@agentsight/events';
import { flatten, type Message, type Part, plainUsage, textPart } from './parts.js';
import type { Accumulator, ApiModule, CallResult, Delta, RequestInfo } from './result.js';
import { incompleteReason, isObj, type Obj, parseArgs, restParams, sseJson, str, text, usage } from './util.js';

interface Block {
  type: string;
  text?: string;
  thinking?: string;
  id?: string;
  name?: string;
  input?: unknown;
  /** Streamed tool input, concatenated. */
  json?: string;
}

function blockFrom(x: unknown): Block {
  if (!isObj(x)) return { type: 'unknown' };
  const b: Block = { type: str(x.type) ?? 'unknown' };
  if (typeof x.text === 'string') b.text = x.text;
  if (typeof x.thinking === 'string') b.thinking = x.thinking;
  if (typeof x.id === 'string') b.id = x.id;
  if (typeof x.name === 'string') b.name = x.name;
  if ('input' in x) b.input = x.input;
  return b;
}

export class AnthropicAccumulator implements Accumulator {
  #started = false;
  #id: string | null = null;
  #model: string | null = null;
  #blocks: Block[] = [];
  #stop: string | null = null;
  #usage: Obj = {};
  #error: unknown;
  #bad: string | undefined;
  #done = false;
  #errorBody = false;

  get done(): boolean {
    return this.#done;
  }

  #start(msg: unknown): void {
    this.#started = true;
    this.#blocks = [];
    this.#stop = null;
    this.#usage = {};
    if (!isObj(msg)) return;
    this.#id = str(msg.id) ?? this.#id;
    this.#model = str(msg.model) ?? this.#model;
    if (Array.isArray(msg.content)) this.#blocks = msg.content.map(blockFrom);
    this.#stop = str(msg.stop_reason);
    if (isObj(msg.usage)) this.#usage = { ...msg.usage };
  }

  sse(event: string | undefined, data: string): Delta[] {
    const ev = sseJson(data);
    if (!ev) {
      if (data.trim() !== '') this.#bad ??= `invalid JSON in SSE data${event ? ` (${event})` : ''}`;
      return [];
    }
    const type = str(ev.type) ?? event;
    switch (type) {
      case 'message_start':
        this.#start(ev.message);
        return [];
      case 'content_block_start': {
        const i = typeof ev.index === 'number' ? ev.index : this.#blocks.length;
        if (i >= 0 && i < 100000) this.#blocks[i] = blockFrom(ev.content_block);
        return [];
      }
      case 'content_block_delta': {
        const b = typeof ev.index === 'number' ? this.#blocks[ev.index] : undefined;
        const d = ev.delta;
        if (!b || !isObj(d)) return [];
        if (d.type === 'text_delta' && typeof d.text === 'string' && b.type === 'text') {
          b.text = (b.text ?? '') + d.text;
          return d.text ? [{ kind: 'text', text: d.text }] : [];
        }
        if (d.type === 'thinking_delta' && typeof d.thinking === 'string' && b.type === 'thinking') {
          b.thinking = (b.thinking ?? '') + d.thinking;
          return d.thinking ? [{ kind: 'thinking', text: d.thinking }] : [];
        }
        if (d.type === 'input_json_delta' && typeof d.partial_json === 'string') {
          b.json = (b.json ?? '') + d.partial_json;
          return b.type === 'tool_use' && d.partial_json ? [{ kind: 'tool_call', text: d.partial_json }] : [];
        }
        return [];
      }
      case 'message_delta': {
        if (isObj(ev.delta) && 'stop_reason' in ev.delta) this.#stop = str(ev.delta.stop_reason);
        const u = ev.usage;
        if (isObj(u)) {
          if (u.output_tokens !== undefined) this.#usage.output_tokens = u.output_tokens;
          // Cumulative totals, present only when they apply: overwrite, never add.
          for (const k of [
            'input_tokens',
            'cache_creation_input_tokens',
            'cache_read_input_tokens',
            'output_tokens_details',
          ]) {
            if (u[k] != null) this.#usage[k] = u[k];
          }
        }
        return [];
      }
      case 'message_stop':
        this.#done = true;
        return [];
      case 'error':
        this.#error = ev.error ?? ev;
        return [];
      default:
        return [];
    }
  }

  body(json: unknown): void {
    if (!isObj(json)) {
      this.#bad ??= 'response body is not a JSON object';
      return;
    }
    if (json.type === 'error' || (json.error !== undefined && json.content === undefined)) {
      // An error answer is a complete exchange, not a cut one: status carries it.
      this.#error = json.error ?? json;
      this.#errorBody = true;
      return;
    }
    this.#start(json);
    this.#done = true;
  }

  result(): CallResult {
    let text = '';
    let thinking = '';
    const tool_calls: ToolCall[] = [];
    for (const b of this.#blocks) {
      if (!b) continue;
      if (b.type === 'text') text += b.text ?? '';
      else if (b.type === 'thinking') thinking += b.thinking ?? '';
      else if (b.type === 'tool_use') {
        const args = b.json !== undefined ? parseArgs(b.json) : (b.input ?? {});
        tool_calls.push({ id: b.id ?? null, name: b.name ?? '', arguments: args });
      }
    }
    const u = this.#usage;
    const details = isObj(u.output_tokens_details) ? u.output_tokens_details : {};
    const r: CallResult = {
      id: this.#id,
      model: this.#model,
      text,
      thinking: thinking === '' ? null : thinking,
      tool_calls,
      finish_reason: this.#stop,
      usage: usage({
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        cache_creation_input_tokens: u.cache_creation_input_tokens,
        reasoning_tokens: details.thinking_tokens,
      }),
    };
    if (this.#error !== undefined) r.error = this.#error;
    const why = incompleteReason(
      { errorBody: this.#errorBody, error: this.#error, bad: this.#bad, started: this.#started, done: this.#done },
      'message_stop',
    );
    if (why) r.incomplete = why;
    return r;
  }
}

function parts(content: unknown): Part[] {
  if (typeof content === 'string') return [textPart(content)];
  if (!Array.isArray(content)) return [];
  const out: Part[] = [];
  for (const b of content) {
    if (!isObj(b)) continue;
    switch (b.type) {
      case 'text':
        out.push(textPart(text(b.text, '')));
        break;
      case 'thinking':
        out.push({ type: 'reasoning', content: text(b.thinking, '') });
        break;
      case 'tool_use':
        out.push({ type: 'tool_call', id: str(b.id), name: text(b.name, ''), arguments: b.input ?? null });
        break;
      case 'tool_result':
        out.push({
          type: 'tool_call_response',
          id: str(b.tool_use_id),
          result: flatten(b.content) ?? null,
          ...(b.is_error === true ? { is_error: true as const } : {}),
        });
        break;
      default:
        out.push({ type: text(b.type, 'unknown'), content: b });
        break;
    }
  }
  return out;
}

export const anthropic: ApiModule = {
  api: 'anthropic.messages',
  provider: 'anthropic',
  operation: 'chat',
  message: (m): Message => ({ role: text(m.role, 'user'), parts: parts(m.content) }),
  // input_tokens counts only the uncached part of the prompt.
  usage: (u) => {
    const n = plainUsage(u);
    if (n.input !== undefined) n.input += (n.cache_read ?? 0) + (n.cache_write ?? 0);
    return n;
  },
  // Claude Code: metadata.user_id is `user_…_account_…_session_<uuid>`, or JSON with session_id.
  session(params) {
    const id = isObj(params.metadata) ? str(params.metadata.user_id) : null;
    if (!id) return undefined;
    const m = /session_([0-9a-f-]{36})/i.exec(id) ?? /"session_id"\s*:\s*"([^"]+)"/.exec(id);
    return m?.[1];
  },
  request(body: unknown, path: string): RequestInfo {
    // Vertex puts the model in the path (…/models/claude-x@date:streamRawPredict).
    const m = /\/models\/([^/:?]+):(stream)?[rR]awPredict/.exec(path);
    const pathModel = m ? decodeURIComponent(m[1]!) : null;
    if (!isObj(body)) return { model: pathModel, stream: !!m?.[2] };
    return {
      model: str(body.model) ?? pathModel,
      system: body.system,
      messages: Array.isArray(body.messages) ? body.messages : undefined,
      tools: Array.isArray(body.tools) ? body.tools : undefined,
      params: restParams(body, ['model', 'system', 'messages', 'tools', 'stream']),
      stream: body.stream === true || !!m?.[2],
    };
  },
  accumulator: () => new AnthropicAccumulator(),
};
