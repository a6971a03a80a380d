/**
 * @agentsight/mock-llm: a local mock LLM server for tests, the demo and benchmarks.
 * It speaks enough of four real APIs for the official SDKs and real agents to run against
 * it, over HTTPS with a certificate signed by its own CA (or plain HTTP), so that the TLS
 * capture tools have real traffic to trace.
 *
 *   const mock = await startMockLlm({ script: [{ toolCalls: [{ name: 'ls', arguments: { path: '.' } }] }, { text: 'done' }] });
 *   // mock.url = https://127.0.0.1:PORT, mock.caPath = the CA's PEM (NODE_EXTRA_CA_CERTS, curl --cacert)
 *   ...
 *   await mock.close();
 *
 * APIs (chosen from the request path, POST only):
 *   Anthropic Messages       …/messages              stream: body.stream === true (SSE) else JSON
 *   OpenAI Chat Completions  …/chat/completions      stream: body.stream; usage chunk if stream_options.include_usage
 *   OpenAI Responses         …/responses             stream: body.stream; a GET …/responses WebSocket upgrade
 *                            is its WebSocket mode (Codex with supports_websockets): each text
 *                            message {"type":"response.create", …body} is a model call, answered
 *                            with the stream's events, one JSON text message each (websocket.ts)
 *   Gemini                   …/models/M:generateContent (JSON), …/models/M:streamGenerateContent?alt=sse (SSE;
 *                            without alt=sse a JSON array)
 *   Bedrock invoke           …/model/M/invoke (JSON), …/model/M/invoke-with-response-stream (Anthropic
 *                            bodies; the stream's events base64 in AWS event-stream `chunk` messages)
 *   Not model calls (never consume a reply): GET / and /health ({"ok":true}), GET …/models
 *   (a model list readable by all three SDKs), POST …/messages/count_tokens, …:countTokens,
 *   …/model/M/count-tokens.
 *   Anything else is a 404.
 *
 * Pointing clients at it: Anthropic SDK baseURL = mock.url (ANTHROPIC_BASE_URL); OpenAI SDK
 * baseURL = mock.url + '/v1' (OPENAI_BASE_URL); @google/genai httpOptions.baseUrl = mock.url
 * (GOOGLE_GEMINI_BASE_URL). Trust: NODE_EXTRA_CA_CERTS=mock.caPath (Node), curl --cacert,
 * SSL_CERT_FILE / REQUESTS_CA_BUNDLE (Python). Any API key is accepted.
 *
 * Replies (`Reply`, one per model call): taken from the queue (`script` array, `enqueue`,
 * `replay`), else from the `script` function, else the default: a short deterministic text
 * "Mock reply to: "<the request's last user message>"" (or "tool result: …" after a tool
 * result). Fields, all optional:
 *   text, thinking, toolCalls [{id?, name, arguments}], usage {input_tokens, output_tokens,
 *   cache_read_input_tokens?, cache_creation_input_tokens?, reasoning_tokens?} (default: a
 *   length/4 estimate), model (default: the request's), stopReason ('stop'|'length'|'tool_calls'
 *   or Anthropic's names), error {status, type?, message} (the API's error body; sent with
 *   x-should-retry: false so SDKs do not retry it), midStreamError {afterChunks, message, type?}
 *   (the API's in-stream error event after that many SSE events), cutAfterChunks (socket
 *   destroyed after that many events; JSON: after half the body), chunkSize (characters per
 *   delta, default 16), delayMs (between events; for JSON, before the response), writeSize
 *   (bytes per socket write / HTTP chunk), headers, replay (absolute path of a raw .http
 *   response, written byte for byte; delayMs/writeSize apply to it too).
 * Thinking is rendered as Anthropic thinking blocks (with a signature), Responses reasoning
 * summaries, Gemini thought parts, and Chat `reasoning_content` deltas (DeepSeek/xAI style).
 *
 * Connections are HTTP/1.1 keep-alive; JSON has content-length, SSE is chunked (one HTTP chunk
 * per event). With `http2: true` ALPN offers h2 first, and each HTTP/2 stream gets the same
 * response (h2.ts: SSE events as DATA frames). Requests are recorded in `mock.requests` (compressed bodies decoded), and
 * `mock.connections` counts accepted connections. Certificates are generated once with the openssl CLI into
 * `certDir` (default $XDG_CACHE_HOME/agentsight/mock-ca or /tmp/agentsight-mock-ca) and reused.
 */

export { type CertFiles, defaultCertDir, ensureCerts } from './certs.js';
export { DEFAULT_MODEL, defaultText, lastUserText } from './plan.js';
export type { Api, MockRequest, Reply, ToolCall, Usage } from './reply.js';
export { type MockLlm, type MockLlmOptions, routeOf, startMockLlm } from './server.js';
