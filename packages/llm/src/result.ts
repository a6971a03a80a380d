import type { LlmApi, ToolCall, Usage } from '@agentsight/events';
import type { Message, Obj, TokenUsage } from './parts.js';

/** What a provider accumulator computes from one response: the `response`/`usage` half of an llm/call. */
export interface CallResult {
  /** The provider's id for the response (message id, completion id, responseId). */
  id: string | null;
  model: string | null;
  text: string;
  thinking: string | null;
  tool_calls: ToolCall[];
  finish_reason: string | null;
  /** OpenAI Chat: the model's refusal message, when it refused. */
  refusal?: string;
  usage: Usage;
  /** An error the provider reported (error event, error body, failed response). */
  error?: unknown;
  /** Why the response is not a complete one, when it is not. */
  incomplete?: string;
}

/** A piece of output as it streams, for `--live`. */
export interface Delta {
  kind: 'text' | 'thinking' | 'tool_call';
  text: string;
}

/**
 * Accumulates one response. Streaming responses are fed one SSE message at a time,
 * non-streaming ones as the parsed JSON body. Never throws on bad input: it records
 * the problem (`incomplete`) and keeps what it has.
 */
export interface Accumulator {
  sse(event: string | undefined, data: string): Delta[];
  body(json: unknown): void;
  /** True once the stream said it is finished (message_stop, [DONE], response.completed …). */
  readonly done: boolean;
  result(): CallResult;
}

/** The request half: normalised from the request body. */
export interface RequestInfo {
  model: string | null;
  system?: unknown;
  messages?: unknown[];
  tools?: unknown[];
  params?: Record<string, unknown>;
  stream: boolean;
}

export interface ApiModule {
  api: LlmApi;
  /** Who serves this API when the host is in no row of the provider table. */
  provider: string;
  /** `gen_ai.operation.name` of its calls. */
  operation: 'chat' | 'generate_content';
  /** Normalise a request body (already JSON-parsed; may be anything). `path` is the URL path with query. */
  request(body: unknown, path: string): RequestInfo;
  accumulator(path: string): Accumulator;
  /** One item of the request's history (message, content, input item), normalized. */
  message(m: Obj): Message;
  /** The usage an accumulator reported, counted the normalized way. */
  usage(u: Usage): TokenUsage;
  /** The client's session id, when its request carries one (in `params`). */
  session(params: Obj): string | undefined;
}
