// Amazon Bedrock runtime: `POST /model/{modelId}/invoke`, `…/invoke-with-response-stream`,
// `…/converse` and `…/converse-stream`. The model is in the path (URL-encoded: ARNs and
// inference-profile ids carry `:` and `/`). Invoke carries the model vendor's own body
// (Anthropic Messages for Claude, with `anthropic_version` and no `model`); its stream is
// AWS event-stream whose `chunk` messages hold `{"bytes": base64(vendor event JSON)}`, so the
// Anthropic accumulator reads the unwrapped events. Converse is Bedrock's own format.
import type { ToolCall } from '@agentsight/events';
import { anthropic } from './anthropic.js';
import { flatten, type Message, type Part, plainUsage, textPart } from './parts.js';
import type { Accumulator, ApiModule, CallResult, Delta, RequestInfo } from './result.js';
import { incompleteReason, isObj, type Obj, parseArgs, restParams, sseJson, str, text, usage } from './util.js';

const PATH = /\/model\/([^/?]+)\/(invoke|invoke-with-response-stream|converse|converse-stream)$/;

/** The operation a Bedrock runtime path names, and its model, or null. */
export function bedrockPath(path: string): { model: string; op: 'invoke' | 'converse'; stream: boolean } | null {
  const m = PATH.exec(path.split('?')[0]!.replace(/\/+$/, ''));
  if (!m) return null;
  let model = m[1]!;
  try {
    model = decodeURIComponent(model);
  } catch {
    /* kept as sent */
  }
  const op = m[2]!;
  return { model, op: op.startsWith('invoke') ? 'invoke' : 'converse', stream: op.endsWith('stream') };
}

/** Errors a Bedrock stream reports as an exception message (`:exception-type`). */
function isException(event: string | undefined): boolean {
  return event !== undefined && /(Exception|Error)$/.test(event);
}

/** Invoke: the vendor's accumulator, each stream `chunk` unwrapped for it; the model is the
 * Bedrock id of the path (what the caller chose and what Bedrock bills), not the vendor's name
 * for it in the response. */
class InvokeAccumulator implements Accumulator {
  #error: unknown;
  constructor(
    readonly inner: Accumulator,
    readonly model: string | null,
  ) {}
  get done(): boolean {
    return this.inner.done;
  }

  sse(event: string | undefined, data: string): Delta[] {
    if (isException(event)) {
      this.#error = { type: event, ...(sseJson(data) ?? { message: data }) };
      return [];
    }
    const ev = sseJson(data);
    if (event === 'chunk' && ev && typeof ev.bytes === 'string')
      return this.inner.sse(undefined, Buffer.from(ev.bytes, 'base64').toString('utf8'));
    // A chunk not wrapped the usual way: what a proxy re-framing the stream may send.
    return this.inner.sse(event, data);
  }

  body(json: unknown): void {
    this.inner.body(json);
  }

  result(): CallResult {
    const r = this.inner.result();
    if (this.model) r.model = this.model;
    if (this.#error !== undefined) {
      r.error = this.#error;
      r.incomplete = 'error event';
    }
    return r;
  }
}

function invokeRequest(body: unknown, path: string): RequestInfo {
  const p = bedrockPath(path);
  const r = anthropic.request(body, path);
  return { ...r, model: p?.model ?? r.model, stream: p?.stream ?? r.stream };
}

/** Invoke with an Anthropic model: Anthropic Messages bodies at Bedrock's path. */
export const bedrockInvoke: ApiModule = {
  ...anthropic,
  provider: 'bedrock',
  request: invokeRequest,
  accumulator: (path) => new InvokeAccumulator(anthropic.accumulator(path), bedrockPath(path)?.model ?? null),
};

interface Block {
  text?: string;
  reasoning?: string;
  tool?: { id: string | null; name: string; input?: unknown; json?: string };
}

export class ConverseAccumulator implements Accumulator {
  #started = false;
  #done = false;
  #blocks: Block[] = [];
  #stop: string | null = null;
  #usage: Obj = {};
  #error: unknown;
  #errorBody = false;
  #bad: string | undefined;

  get done(): boolean {
    return this.#done;
  }

  #block(i: unknown): Block | undefined {
    if (typeof i !== 'number' || i < 0 || i >= 100000) return undefined;
    return (this.#blocks[i] ??= {});
  }

  sse(event: string | undefined, data: string): Delta[] {
    if (isException(event)) {
      this.#error = { type: event, ...(sseJson(data) ?? { message: data }) };
      return [];
    }
    const ev = sseJson(data);
    if (!ev) {
      if (data.trim() !== '') this.#bad ??= `invalid JSON in event${event ? ` (${event})` : ''}`;
      return [];
    }
    switch (event) {
      case 'messageStart':
        this.#started = true;
        this.#blocks = [];
        return [];
      case 'contentBlockStart': {
        const b = this.#block(ev.contentBlockIndex);
        const tu = isObj(ev.start) && isObj(ev.start.toolUse) ? ev.start.toolUse : null;
        if (b && tu) b.tool = { id: str(tu.toolUseId), name: str(tu.name) ?? '' };
        return [];
      }
      case 'contentBlockDelta': {
        const b = this.#block(ev.contentBlockIndex);
        const d = ev.delta;
        if (!b || !isObj(d)) return [];
        if (typeof d.text === 'string') {
          b.text = (b.text ?? '') + d.text;
          return d.text ? [{ kind: 'text', text: d.text }] : [];
        }
        if (isObj(d.toolUse) && typeof d.toolUse.input === 'string') {
          b.tool ??= { id: null, name: '' };
          b.tool.json = (b.tool.json ?? '') + d.toolUse.input;
          return d.toolUse.input ? [{ kind: 'tool_call', text: d.toolUse.input }] : [];
        }
        if (isObj(d.reasoningContent) && typeof d.reasoningContent.text === 'string') {
          b.reasoning = (b.reasoning ?? '') + d.reasoningContent.text;
          return d.reasoningContent.text ? [{ kind: 'thinking', text: d.reasoningContent.text }] : [];
        }
        return [];
      }
      case 'messageStop':
        this.#stop = str(ev.stopReason);
        this.#done = true;
        return [];
      case 'metadata':
        if (isObj(ev.usage)) this.#usage = { ...ev.usage };
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
    const msg = isObj(json.output) && isObj(json.output.message) ? json.output.message : null;
    if (!msg) {
      // Errors come as {message} (with the type in the x-amzn-errortype header): status carries it.
      this.#error = json;
      this.#errorBody = true;
      return;
    }
    this.#started = true;
    this.#done = true;
    this.#stop = str(json.stopReason);
    if (isObj(json.usage)) this.#usage = { ...json.usage };
    this.#blocks = [];
    for (const c of Array.isArray(msg.content) ? msg.content : []) {
      if (!isObj(c)) {
        this.#blocks.push({});
        continue;
      }
      if (typeof c.text === 'string') this.#blocks.push({ text: c.text });
      else if (isObj(c.toolUse))
        this.#blocks.push({
          tool: { id: str(c.toolUse.toolUseId), name: str(c.toolUse.name) ?? '', input: c.toolUse.input },
        });
      else if (isObj(c.reasoningContent) && isObj(c.reasoningContent.reasoningText))
        this.#blocks.push({ reasoning: str(c.reasoningContent.reasoningText.text) ?? '' });
      else this.#blocks.push({});
    }
  }

  result(): CallResult {
    let text = '';
    let thinking = '';
    const tool_calls: ToolCall[] = [];
    for (const b of this.#blocks) {
      if (!b) continue;
      if (b.text !== undefined) text += b.text;
      if (b.reasoning !== undefined) thinking += b.reasoning;
      if (b.tool)
        tool_calls.push({
          id: b.tool.id,
          name: b.tool.name,
          arguments: b.tool.json !== undefined ? parseArgs(b.tool.json) : (b.tool.input ?? {}),
        });
    }
    const u = this.#usage;
    const r: CallResult = {
      id: null,
      model: null,
      text,
      thinking: thinking === '' ? null : thinking,
      tool_calls,
      finish_reason: this.#stop,
      usage: usage({
        input_tokens: u.inputTokens,
        output_tokens: u.outputTokens,
        cache_read_input_tokens: u.cacheReadInputTokens,
        cache_creation_input_tokens: u.cacheWriteInputTokens,
      }),
    };
    if (this.#error !== undefined) r.error = this.#error;
    const why = incompleteReason(
      { errorBody: this.#errorBody, error: this.#error, bad: this.#bad, started: this.#started, done: this.#done },
      'messageStop',
    );
    if (why) r.incomplete = why;
    return r;
  }
}

function converseParts(content: unknown): Part[] {
  if (!Array.isArray(content)) return [];
  const out: Part[] = [];
  for (const c of content) {
    if (!isObj(c)) continue;
    if (typeof c.text === 'string') out.push(textPart(c.text));
    else if (isObj(c.toolUse))
      out.push({
        type: 'tool_call',
        id: str(c.toolUse.toolUseId),
        name: text(c.toolUse.name, ''),
        arguments: c.toolUse.input ?? null,
      });
    else if (isObj(c.toolResult)) {
      const t = c.toolResult;
      // Result blocks are [{text}|{json}|…]: text joined, anything else kept.
      const list = Array.isArray(t.content) ? t.content : [];
      const result = list.every((b) => isObj(b) && typeof b.text === 'string')
        ? flatten(list)
        : list.length === 1 && isObj(list[0]) && 'json' in list[0]
          ? list[0].json
          : list;
      out.push({
        type: 'tool_call_response',
        id: str(t.toolUseId),
        result: result ?? null,
        ...(t.status === 'error' ? { is_error: true as const } : {}),
      });
    } else if (isObj(c.reasoningContent) && isObj(c.reasoningContent.reasoningText))
      out.push({ type: 'reasoning', content: text(c.reasoningContent.reasoningText.text, '') });
    else out.push({ type: Object.keys(c)[0] ?? 'unknown', content: c });
  }
  return out;
}

/** Converse and converse-stream. */
export const bedrockConverse: ApiModule = {
  api: 'bedrock.converse',
  provider: 'bedrock',
  operation: 'chat',
  message: (m): Message => ({ role: text(m.role, 'user'), parts: converseParts(m.content) }),
  // inputTokens counts only the uncached part of the prompt, as Anthropic's does.
  usage: (u) => {
    const n = plainUsage(u);
    if (n.input !== undefined) n.input += (n.cache_read ?? 0) + (n.cache_write ?? 0);
    return n;
  },
  session: () => undefined,
  request(body: unknown, path: string): RequestInfo {
    const p = bedrockPath(path);
    const stream = p?.stream ?? false;
    if (!isObj(body)) return { model: p?.model ?? null, stream };
    const tc = isObj(body.toolConfig) ? body.toolConfig : null;
    const params = restParams(body, ['modelId', 'system', 'messages', 'toolConfig']) ?? {};
    if (tc) for (const [k, v] of Object.entries(tc)) if (k !== 'tools') params[`toolConfig.${k}`] = v;
    return {
      model: p?.model ?? str(body.modelId),
      system: body.system,
      messages: Array.isArray(body.messages) ? body.messages : undefined,
      tools: tc && Array.isArray(tc.tools) ? tc.tools : undefined,
      params: Object.keys(params).length ? params : undefined,
      stream,
    };
  },
  accumulator: () => new ConverseAccumulator(),
};
