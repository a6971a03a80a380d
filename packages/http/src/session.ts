import type { AgentEvent, SslDataEvent } from '@agentsight/events';
import type { Bodies, Msg, Pairing } from './body.js';

export type { Pairing };

// What a connection offers the protocol it speaks (conn-h1.ts, conn-h2.ts, conn-ws.ts):
// the event being parsed, request ids, the body store, and the http events every
// protocol reports alike. Kept apart from conn.ts so the protocols depend on this
// contract, not on the connection that dispatches to them.

export type Dir = 'read' | 'write';

/** Counters for a summary line. */
export interface HttpStats {
  requests: number;
  responses: number;
  sse: number;
  ws: number;
  unparsed: number;
  holes: number;
  connections: number;
}

/** The stage's options a connection reads. */
export interface ConnOptions {
  redact: boolean;
  maxBodyBytes: number;
  maxHeadBytes: number;
  reorderMaxPending: number;
}

export type Trailers = Array<[string, string]> | null;

export interface ConnCore {
  readonly id: string;
  readonly opts: ConnOptions;
  readonly stats: HttpStats;
  readonly bodies: Bodies;
  /** The event whose bytes are being parsed: times and process identity come from it. */
  readonly ev: SslDataEvent;
  /** The next request's pairing on this connection. */
  pairing(method: string, startTs: number): Pairing;
  emitRequest(m: Msg, trailers: Trailers, incomplete?: string): void;
  emitResponse(m: Msg, trailers: Trailers, incomplete?: string): void;
  /** A response labelled as an event stream gets its messages reported as they arrive. */
  watchSse(m: Msg): void;
  unparsed(reason: string, bytes: number): void;
  /** Any other event this connection reports. */
  emit(ev: AgentEvent): void;
  /** Counts a parse error; false once this connection has reported enough of them. */
  mayReport(): boolean;
}
