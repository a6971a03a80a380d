/** The APIs the mock speaks, chosen from the request path. */
export type Api = 'anthropic.messages' | 'openai.chat' | 'openai.responses' | 'gemini';

export interface ToolCall {
  /** Defaults to a deterministic provider-style id (toolu_…, call_…); Gemini sends none unless given. */
  id?: string;
  name: string;
  /** An object, or a string sent verbatim as the streamed JSON text (so malformed JSON can be scripted). */
  arguments: Record<string, unknown> | string;
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  reasoning_tokens?: number;
}

/** One model call's answer. Every field is optional; see DEFAULTS in index.ts docs. */
export interface Reply {
  text?: string;
  thinking?: string;
  toolCalls?: ToolCall[];
  usage?: Partial<Usage>;
  model?: string;
  /**
   * Why the model stopped. Either API-neutral ('stop' | 'length' | 'tool_calls') or an
   * Anthropic name ('end_turn' | 'max_tokens' | 'tool_use' | 'refusal' …); mapped to each
   * API's own vocabulary. Default: tool calls present ? 'tool_calls' : 'stop'.
   */
  stopReason?: string;
  /** Answer with an HTTP error instead (provider's error body; 429/5xx get retry-after: 0). */
  error?: { status: number; type?: string; message: string };
  /** Streaming only: after `afterChunks` events of the normal reply, send the API's error event and end. */
  midStreamError?: { afterChunks: number; message: string; type?: string };
  /** Close the socket after this many events (streams) or after part of the body (JSON). */
  cutAfterChunks?: number;
  /** Characters of text/thinking/arguments per delta event (default 16). */
  chunkSize?: number;
  /** Milliseconds to wait between events (default 0). */
  delayMs?: number;
  /** Split the response body into socket writes of at most this many bytes (default: one write per event). */
  writeSize?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Absolute path of a raw HTTP/1.1 response (.http) to send byte for byte instead. */
  replay?: string;
}

/** What the mock received; kept in `mock.requests` in arrival order. */
export interface MockRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  path: string;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
  /** The API, from the path; null for paths that are not a model call. */
  api: Api | null;
  stream: boolean;
  model?: string;
  /** Amazon Bedrock's invoke paths (`/model/{id}/invoke[-with-response-stream]`): Anthropic
   * bodies, the stream in AWS event-stream framing. */
  bedrock?: 'invoke';
  /** Milliseconds since the epoch. */
  receivedAt: number;
}
