// OpenAI Chat Completions (`POST …/chat/completions`) and the many servers that speak it
// (Azure, DeepSeek, Groq, xAI, Qwen, OpenRouter, Ollama …). Accumulates the way the
// `openai` SDK's ChatCompletionStream does: choice 0's content, tool calls by index (id
// and name set by the first non-empty value, arguments appended), envelope fields from
// chunks that carry an id. Unlike the SDK it also concatenates `reasoning_content`
// (DeepSeek, xAI, Qwen) or `reasoning` (OpenRouter, Ollama) deltas into `thinking`.
import type { ToolCall } from '@agentsight/events';
import { contentParts, flatten, jsonArgs, type Message, type Part, plainUsage } from './parts.js';
import type { Accumulator, ApiModule, CallResult, Delta, RequestInfo } from './result.js';
import { isObj, type Obj, parseArgs, restParams, sseJson, str, text, usage } from './util.js';

interface Call {
  id: string | null;
  name: string;
  args: string;
}

export class OpenAIChatAccumulator implements Accumulator {
  #chunks = 0;
  #id: string | null = null;
  #model: string | null = null;
  #content = '';
  #reasoning = '';
  #refusal = '';
  #calls: Call[] = [];
  #finish: string | null = null;
  #usage: unknown = null;
  #error: unknown;
  #errorBody = false;
  #bad: string | undefined;
  #done = false;

  get done(): boolean {
    return this.#done;
  }

  #envelope(c: Obj): void {
    // The SDK takes the envelope from the first chunk and from every chunk with an id
    // (Azure's first chunk has an empty id and model).
    if (this.#chunks === 0 || c.id) {
      if ('id' in c) this.#id = str(c.id) || this.#id;
      if ('model' in c) this.#model = str(c.model) || this.#model;
      if ('usage' in c) this.#usage = c.usage;
    }
    this.#chunks++;
  }

  #message(m: Obj, out: Delta[] | null): void {
    if (typeof m.content === 'string' && m.content) {
      this.#content += m.content;
      out?.push({ kind: 'text', text: m.content });
    }
    if (typeof m.refusal === 'string') this.#refusal += m.refusal;
    const r =
      typeof m.reasoning_content === 'string'
        ? m.reasoning_content
        : typeof m.reasoning === 'string'
          ? m.reasoning
          : '';
    if (r) {
      this.#reasoning += r;
      out?.push({ kind: 'thinking', text: r });
    }
    if (Array.isArray(m.tool_calls)) {
      m.tool_calls.forEach((tc: unknown, pos: number) => {
        if (!isObj(tc)) return;
        const i = typeof tc.index === 'number' && tc.index >= 0 && tc.index < 10000 ? tc.index : pos;
        const call = (this.#calls[i] ??= { id: null, name: '', args: '' });
        if (typeof tc.id === 'string' && tc.id) call.id = tc.id;
        const fn = tc.function;
        if (isObj(fn)) {
          if (typeof fn.name === 'string' && fn.name) call.name = fn.name;
          if (typeof fn.arguments === 'string' && fn.arguments) {
            call.args += fn.arguments;
            out?.push({ kind: 'tool_call', text: fn.arguments });
          } else if (isObj(fn.arguments)) {
            // Some compatible servers (Ollama's native shape) send arguments as an object.
            call.args += JSON.stringify(fn.arguments);
          }
        }
      });
    }
  }

  sse(_event: string | undefined, data: string): Delta[] {
    if (data.trim() === '[DONE]') {
      this.#done = true;
      return [];
    }
    const c = sseJson(data);
    if (!c) {
      if (data.trim() !== '') this.#bad ??= 'invalid JSON in SSE data';
      return [];
    }
    if (c.error !== undefined && c.choices === undefined) {
      this.#error = c.error;
      return [];
    }
    this.#envelope(c);
    const out: Delta[] = [];
    if (Array.isArray(c.choices)) {
      for (const ch of c.choices) {
        if (!isObj(ch) || (ch.index ?? 0) !== 0) continue;
        if (typeof ch.finish_reason === 'string' && ch.finish_reason) this.#finish = ch.finish_reason;
        if (isObj(ch.delta)) this.#message(ch.delta, out);
      }
    }
    return out;
  }

  body(json: unknown): void {
    if (!isObj(json)) {
      this.#bad ??= 'response body is not a JSON object';
      return;
    }
    if (json.error !== undefined && json.choices === undefined) {
      this.#error = json.error;
      this.#errorBody = true;
      return;
    }
    this.#envelope(json);
    if (Array.isArray(json.choices)) {
      const ch = json.choices.find((x: unknown) => isObj(x) && (x.index ?? 0) === 0);
      if (isObj(ch)) {
        if (typeof ch.finish_reason === 'string') this.#finish = ch.finish_reason;
        if (isObj(ch.message)) this.#message(ch.message, null);
      }
    }
    this.#done = true;
  }

  result(): CallResult {
    const u = isObj(this.#usage) ? this.#usage : {};
    const pd = isObj(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
    const cd = isObj(u.completion_tokens_details) ? u.completion_tokens_details : {};
    const tool_calls: ToolCall[] = [];
    for (const c of this.#calls) if (c) tool_calls.push({ id: c.id, name: c.name, arguments: parseArgs(c.args) });
    const r: CallResult = {
      id: this.#id,
      model: this.#model,
      text: this.#content,
      thinking: this.#reasoning === '' ? null : this.#reasoning,
      tool_calls,
      finish_reason: this.#finish,
      usage: usage({
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        cache_read_input_tokens: pd.cached_tokens,
        reasoning_tokens: cd.reasoning_tokens,
      }),
    };
    if (this.#refusal) r.refusal = this.#refusal;
    if (this.#error !== undefined) r.error = this.#error;
    const why = this.#errorBody
      ? undefined
      : this.#error !== undefined
        ? 'error in stream'
        : (this.#bad ??
          (this.#chunks === 0
            ? 'no chunks'
            : !this.#done && this.#finish === null
              ? 'stream ended before finish_reason'
              : undefined));
    if (why) r.incomplete = why;
    return r;
  }
}

/** Strings of the system/developer messages, which Chat carries inside `messages`. */
function systemOf(messages: unknown[]): unknown {
  const parts: unknown[] = [];
  for (const m of messages) {
    if (isObj(m) && (m.role === 'system' || m.role === 'developer')) parts.push(m.content);
  }
  if (parts.length === 0) return undefined;
  if (parts.every((p) => typeof p === 'string')) return parts.join('\n\n');
  return parts;
}

function message(m: Obj): Message {
  if (m.role === 'tool') {
    return {
      role: 'tool',
      parts: [{ type: 'tool_call_response', id: str(m.tool_call_id), result: flatten(m.content) ?? null }],
    };
  }
  const parts: Part[] = contentParts(m.content);
  for (const tc of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
    if (isObj(tc)) {
      const fn = isObj(tc.function) ? tc.function : {};
      parts.push({
        type: 'tool_call',
        id: str(tc.id),
        name: text(fn.name, ''),
        arguments: jsonArgs(fn.arguments) ?? null,
      });
    }
  }
  return { role: text(m.role, 'user'), parts };
}

export const openaiChat: ApiModule = {
  api: 'openai.chat',
  provider: 'openai',
  operation: 'chat',
  message,
  usage: plainUsage,
  session: () => undefined,
  request(body: unknown): RequestInfo {
    if (!isObj(body)) return { model: null, stream: false };
    const messages = Array.isArray(body.messages) ? body.messages : undefined;
    return {
      model: str(body.model),
      system: messages ? systemOf(messages) : undefined,
      messages,
      tools: Array.isArray(body.tools) ? body.tools : Array.isArray(body.functions) ? body.functions : undefined,
      params: restParams(body, ['model', 'messages', 'tools', 'functions', 'stream']),
      stream: body.stream === true,
    };
  },
  accumulator: () => new OpenAIChatAccumulator(),
};
