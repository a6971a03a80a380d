import { type AgentEvent, encodePayload, SCHEMA_VERSION, type SslDataEvent } from '@agentsight/events';
import { HttpStage, type HttpStageOptions } from './stage.js';

// Synthetic `ssl` events from raw bytes: how tests, benchmarks and the corpus harness of
// other stages feed recorded HTTP through as-http without a kernel.

/** A small seeded PRNG (mulberry32): deterministic splits and fuzz cases. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sorted cut points in (0, len) for pieces of 1..maxPiece bytes. */
export function splitPoints(len: number, rnd: () => number, maxPiece = 64): number[] {
  const cuts: number[] = [];
  let at = 0;
  for (;;) {
    at += 1 + Math.floor(rnd() * maxPiece);
    if (at >= len) return cuts;
    cuts.push(at);
  }
}

export interface SslSynthOptions {
  conn: string;
  dir: 'read' | 'write';
  /** Cut points; default: one piece. */
  cuts?: number[];
  seq?: number;
  ts?: number;
  /** µs between consecutive events. */
  stepUs?: number;
  pid?: number;
  tid?: number;
  comm?: string;
}

/** One `ssl`/`data` event per piece, each its own TLS call, seq consecutive. */
export function sslEvents(bytes: Uint8Array, o: SslSynthOptions): SslDataEvent[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cuts = [0, ...(o.cuts ?? []), buf.length];
  const out: SslDataEvent[] = [];
  let seq = o.seq ?? 0;
  let ts = o.ts ?? 1_700_000_000_000_000;
  for (let i = 0; i + 1 < cuts.length; i++) {
    const piece = buf.subarray(cuts[i]!, cuts[i + 1]!);
    if (!piece.length) continue;
    out.push({
      v: SCHEMA_VERSION,
      ts,
      src: 'ssl',
      type: 'data',
      pid: o.pid ?? 4242,
      tid: o.tid ?? o.pid ?? 4242,
      comm: o.comm ?? 'agent',
      conn: o.conn,
      dir: o.dir,
      seq: seq++,
      len: piece.length,
      ...encodePayload(piece),
      lib: 'openssl',
    });
    ts += o.stepUs ?? 10;
  }
  return out;
}

/**
 * Run events through a fresh HttpStage and return what it emits, as the JSON a pipe
 * would carry (fields left undefined vanish, as they do on the wire).
 */
export function runHttp(events: Iterable<AgentEvent>, opts: HttpStageOptions = {}): AgentEvent[] {
  const out: AgentEvent[] = [];
  const st = new HttpStage(opts, (e) => out.push(JSON.parse(JSON.stringify(e)) as AgentEvent));
  for (const e of events) st.write(e);
  st.end();
  return out;
}
