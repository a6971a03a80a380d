/**
 * @agentsight/http: HTTP/1.x and HTTP/2 reassembly from captured TLS plaintext. `HttpStage` turns
 * `ssl`/`data` chunks (any split, reordered within bounds, with losses) into `http`
 * events: requests and responses paired on keep-alive connections, bodies de-chunked and
 * decoded, SSE messages as they arrive, secrets redacted, non-HTTP traffic reported once.
 * Used by the `as-http` tool and in-process by `agentsight exec`.
 */
export { HttpStage, type HttpStageOptions, type HttpStats } from './stage.js';
export { Http1Parser, planBody, headerValue, type MessageHead, type BodyPlan, type ParserHooks, type Side } from './http1.js';
export { SseParser, type SseMessage } from './sse.js';
export { EventStreamParser, type EventStreamMessage } from './eventstream.js';
export { ContentDecoder } from './decode.js';
export { SeqReorder, type Piece } from './reorder.js';
export { sslEvents, splitPoints, prng, runHttp, type SslSynthOptions } from './synth.js';
export { H2Reader, H2_PREFACE, type H2Hooks } from './h2.js';
export { HpackDecoder, HpackError, huffmanDecode } from './hpack.js';
