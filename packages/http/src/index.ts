/**
 * @agentsight/http: HTTP/1.x and HTTP/2 reassembly from captured TLS plaintext. `HttpStage` turns
 * `ssl`/`data` chunks (any split, reordered within bounds, with losses) into `http`
 * events: requests and responses paired on keep-alive connections, bodies de-chunked and
 * decoded, SSE messages as they arrive, secrets redacted, non-HTTP traffic reported once.
 * Used by the `as-http` tool and in-process by `agentsight exec`.
 */

export { ContentDecoder } from './decode.js';
export { type EventStreamMessage, EventStreamParser } from './eventstream.js';
export { H2_PREFACE, type H2Hooks, H2Reader } from './h2.js';
export { HpackDecoder, HpackError, huffmanDecode } from './hpack.js';
export {
  type BodyPlan,
  Http1Parser,
  headerValue,
  type MessageHead,
  type ParserHooks,
  planBody,
  type Side,
} from './http1.js';
export { type Piece, SeqReorder } from './reorder.js';
export { type SseMessage, SseParser } from './sse.js';
export { HttpStage, type HttpStageOptions, type HttpStats } from './stage.js';
export { prng, runHttp, type SslSynthOptions, splitPoints, sslEvents } from './synth.js';
