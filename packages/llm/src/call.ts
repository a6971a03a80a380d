// One LLM call as every consumer reads it: the `llm`/`call` event as-merge wrote, turned
// into the normalized conversation (parts.ts), one token count, the cost, the session, the
// request parameters and error in one shape. The per-API knowledge comes from the API
// modules (anthropic.ts, openai-chat.ts, openai-responses.ts, gemini.ts).
import type { LlmApi, LlmCallEvent } from '@agentsight/events';
import { moduleFor } from './detect.js';
import {
  isObj,
  type Message,
  type Obj,
  type Part,
  type TextPart,
  type TokenUsage,
  type ToolResultPart,
  textPart,
} from './parts.js';
import { costOf, DEFAULT_PRICES, type PriceTable } from './prices.js';
import { text } from './util.js';

export * from './parts.js';

/** What one call's consumers read; built by `callOf`. */
export interface Call {
  id: string;
  provider: string;
  api: LlmApi;
  /** `gen_ai.operation.name`. */
  operation: string;
  /** The model the request asked for, and the one that answered. */
  request_model: string | null;
  model: string | null;
  session?: string;
  system?: TextPart[];
  messages: Message[];
  output: Message;
  finish_reason?: string;
  params: RequestParams;
  usage: TokenUsage;
  /** USD, estimated from list prices; undefined when the model's price is unknown. */
  cost_usd?: number;
  error?: CallError;
}

type CallLike = Pick<LlmCallEvent, 'api' | 'usage'>;

/** `gen_ai.operation.name` of an API's calls. */
export function operationOf(api: LlmApi): string {
  return moduleFor(api).operation;
}

export function usageOf(ev: CallLike): TokenUsage {
  return moduleFor(ev.api).usage(ev.usage ?? {});
}

/** Estimated cost of a call in USD (list prices, or `table`), or undefined when unpriced. */
export function callCost(
  ev: CallLike & Pick<LlmCallEvent, 'model' | 'provider'> & Partial<Pick<LlmCallEvent, 'ts'>>,
  table: PriceTable = DEFAULT_PRICES,
): number | undefined {
  return costOf(ev.model, ev.provider, usageOf(ev), table, ev.ts);
}

/** The request's history, one normalized message per item. */
export function messagesOf(api: LlmApi, messages: unknown[] | undefined): Message[] {
  const mod = moduleFor(api);
  const out: Message[] = [];
  for (const m of messages ?? []) {
    if (typeof m === 'string') out.push({ role: 'user', parts: [textPart(m)] });
    else if (isObj(m)) out.push(mod.message(m));
  }
  return out;
}

/** System instructions given apart from the history, as text parts. */
export function systemOf(system: unknown): TextPart[] | undefined {
  if (system === undefined || system === null) return undefined;
  if (typeof system === 'string') return system ? [textPart(system)] : undefined;
  const list = Array.isArray(system) ? system : isObj(system) && Array.isArray(system.parts) ? system.parts : [system];
  const parts: TextPart[] = [];
  for (const b of list) {
    if (typeof b === 'string') parts.push(textPart(b));
    else if (isObj(b) && typeof b.text === 'string') parts.push(textPart(b.text));
    else if (isObj(b) && typeof b.content === 'string') parts.push(textPart(b.content));
  }
  return parts.length ? parts : undefined;
}

/** Index of the first message after the model's last turn: what is new in this request. */
export function newMessagesFrom(msgs: Message[]): number {
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]!.role === 'assistant') return i + 1;
  return 0;
}

/** The model's answer as one assistant message. */
export function outputOf(ev: Pick<LlmCallEvent, 'response'>): Message {
  const r = ev.response;
  const parts: Part[] = [];
  if (r.thinking) parts.push({ type: 'reasoning', content: r.thinking });
  if (r.text) parts.push({ type: 'text', content: r.text });
  for (const tc of r.tool_calls ?? [])
    parts.push({ type: 'tool_call', id: tc.id, name: tc.name, arguments: tc.arguments ?? null });
  return { role: 'assistant', parts };
}

/** Provider stop reasons -> the conventions' finish_reason values (others as they are). */
export function finishReasonOf(r: string | null | undefined): string | undefined {
  if (!r) return undefined;
  switch (r.toLowerCase()) {
    case 'end_turn':
    case 'stop':
    case 'stop_sequence':
    case 'completed':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'length':
    case 'incomplete':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
    case 'tool_calls':
    case 'function_call':
      return 'tool_call';
    case 'content_filter':
    case 'safety':
    case 'refusal':
    case 'blocklist':
    case 'prohibited_content':
    case 'recitation':
      return 'content_filter';
    case 'failed':
    case 'error':
      return 'error';
    default:
      return r;
  }
}

/** Sampling parameters of the request, whatever each API calls them. */
export interface RequestParams {
  model?: string;
  temperature?: unknown;
  max_tokens?: unknown;
  top_p?: unknown;
  top_k?: unknown;
  frequency_penalty?: unknown;
  presence_penalty?: unknown;
  stop_sequences?: unknown;
  seed?: unknown;
  choice_count?: unknown;
}

export function paramsOf(ev: Pick<LlmCallEvent, 'request'>): RequestParams {
  const p0: Obj = ev.request.params ?? {};
  // Gemini nests them in generationConfig, its SDKs in config.
  const p: Obj = {
    ...p0,
    ...(isObj(p0.generationConfig) ? p0.generationConfig : {}),
    ...(isObj(p0.config) ? p0.config : {}),
  };
  const first = (...ks: string[]) => ks.map((k) => p[k]).find((v) => v !== undefined && v !== null);
  const out: RequestParams = {
    model: typeof p0.model === 'string' ? p0.model : undefined,
    temperature: first('temperature'),
    max_tokens: first('max_tokens', 'max_output_tokens', 'max_completion_tokens', 'maxOutputTokens'),
    top_p: first('top_p', 'topP'),
    top_k: first('top_k', 'topK'),
    frequency_penalty: first('frequency_penalty', 'frequencyPenalty'),
    presence_penalty: first('presence_penalty', 'presencePenalty'),
    stop_sequences: first('stop_sequences', 'stop', 'stopSequences'),
    seed: first('seed'),
    choice_count: first('n', 'candidateCount'),
  };
  for (const k of Object.keys(out) as Array<keyof RequestParams>) if (out[k] === undefined) delete out[k];
  return out;
}

export interface CallError {
  type: string;
  message?: string;
}

/** Why the call failed, in the provider's words where it gave them; undefined when it did not. */
export function errorOf(ev: Pick<LlmCallEvent, 'status' | 'error' | 'incomplete'>): CallError | undefined {
  const failed = ev.status >= 400 || ev.error !== undefined || ev.incomplete !== undefined;
  if (!failed) return undefined;
  // {error: {type, message}} (Anthropic, OpenAI), {code, status, message} (Gemini).
  const e = isObj(ev.error) ? (isObj(ev.error.error) ? ev.error.error : ev.error) : undefined;
  const provType =
    typeof e?.type === 'string'
      ? e.type
      : typeof e?.code === 'string'
        ? e.code
        : typeof e?.status === 'string'
          ? e.status
          : undefined;
  const message = typeof e?.message === 'string' ? e.message : typeof ev.error === 'string' ? ev.error : ev.incomplete;
  const type = provType ?? (ev.status >= 400 ? String(ev.status) : ev.incomplete ? 'incomplete' : '_OTHER');
  return message !== undefined ? { type, message } : { type };
}

export function sessionOf(ev: Pick<LlmCallEvent, 'api' | 'request'>): string | undefined {
  return moduleFor(ev.api).session(ev.request.params ?? {});
}

/** A tool result in a request's history, with its text for matching against what a tool printed. */
export interface ToolResult {
  id: string | null;
  name?: string;
  result: unknown;
  text: string;
  isError?: boolean;
  /** In the request's newest turn and pairable by name and order when its id matches no call. */
  byName: boolean;
}

/** Text of a tool result: strings joined, images dropped, anything else as JSON. */
export function resultText(c: unknown): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map(resultText).join('');
  if (isObj(c)) {
    if (typeof c.text === 'string') return c.text;
    if (/image/.test(text(c.type, ''))) return '';
    // Gemini CLI answers {output: …}.
    if ('output' in c) return resultText(c.output);
    return JSON.stringify(c);
  }
  return c === undefined || c === null ? '' : typeof c === 'object' ? JSON.stringify(c) : String(c);
}

/** Tool results carried in a request's messages, in order. */
export function toolResultsOf(api: LlmApi, messages: unknown[] | undefined): ToolResult[] {
  const msgs = messagesOf(api, messages);
  const latest = newMessagesFrom(msgs);
  const out: ToolResult[] = [];
  msgs.forEach((m, i) => {
    for (const p of m.parts) {
      if (p.type !== 'tool_call_response') continue;
      const r = p as ToolResultPart;
      out.push({
        id: r.id,
        ...(r.name !== undefined ? { name: r.name } : {}),
        result: r.result,
        text: resultText(r.result),
        ...(r.is_error ? { isError: true } : {}),
        byName: i >= latest && (r.id === null || r.by_name === true),
      });
    }
  });
  return out;
}

/**
 * Pair tool results with the tool calls they answer: by id; a result whose id matches no
 * call and that the API lets pair by name (see `ToolResult.byName`) takes the first call of
 * that name `open` accepts, in order. Each call and each result is paired at most once;
 * pairs come in the order of the results.
 */
export function pairResults<T extends { id: string | null; name: string }>(
  calls: Iterable<T>,
  results: readonly ToolResult[],
  open: (c: T) => boolean = () => true,
): Array<{ call: T; result: ToolResult; how: 'id' | 'name_order' }> {
  const list = [...calls];
  const byId = new Map<string, T>();
  for (const c of list) if (c.id !== null && !byId.has(c.id)) byId.set(c.id, c);
  const taken = new Set<T>();
  const out: Array<{ call: T; result: ToolResult; how: 'id' | 'name_order' }> = [];
  for (const r of results) {
    const c = r.id !== null ? byId.get(r.id) : undefined;
    if (c) {
      if (!taken.has(c)) {
        taken.add(c);
        out.push({ call: c, result: r, how: 'id' });
      }
      continue;
    }
    if (!r.byName) continue;
    const n = list.find((x) => !taken.has(x) && open(x) && x.name === r.name);
    if (n) {
      taken.add(n);
      out.push({ call: n, result: r, how: 'name_order' });
    }
  }
  return out;
}

/** The whole normalized call. */
export function callOf(ev: LlmCallEvent, table: PriceTable = DEFAULT_PRICES): Call {
  const mod = moduleFor(ev.api);
  const usage = usageOf(ev);
  const params = paramsOf(ev);
  const cost = costOf(ev.model, ev.provider, usage, table, ev.ts);
  const session = sessionOf(ev);
  const system = systemOf(ev.request.system);
  const finish = finishReasonOf(ev.response.finish_reason);
  const error = errorOf(ev);
  return {
    id: ev.id,
    provider: ev.provider,
    api: ev.api,
    operation: mod.operation,
    request_model: params.model ?? ev.model,
    model: ev.model,
    ...(session !== undefined ? { session } : {}),
    ...(system ? { system } : {}),
    messages: messagesOf(ev.api, ev.request.messages),
    output: outputOf(ev),
    ...(finish ? { finish_reason: finish } : {}),
    params,
    usage,
    ...(cost !== undefined ? { cost_usd: cost } : {}),
    ...(error ? { error } : {}),
  };
}
