// A real OTLP/HTTP trace receiver on loopback, for tests of as-otel and of anything that
// embeds OtelStage: it decodes protobuf requests with the official OTLP definitions (and
// JSON ones as JSON), un-gzips, and can answer each request as a test script says.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { otlpProto } from './otlp.js';

export type Flat = string | number | boolean | null | Flat[] | { [k: string]: Flat };

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  /** Attribute values as plain JS values (ints and doubles both as numbers). */
  attributes: Record<string, Flat>;
  /** The AnyValue kind of each attribute: stringValue, intValue, doubleValue, boolValue, arrayValue, kvlistValue. */
  types: Record<string, string>;
  status?: { code: number; message?: string };
  links: Array<{ traceId: string; spanId: string }>;
  resource: Record<string, Flat>;
  scope: { name: string; version?: string };
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBytes: number;
  /** Status this receiver answered with. */
  status: number;
  spans: ReceivedSpan[];
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array /** Answer after this long. */;
  delayMs?: number;
}

export interface OtlpReceiver {
  url: string;
  port: number;
  /** Every request received, in order (including the ones answered with an error). */
  requests: ReceivedRequest[];
  /** Spans of the requests answered with 2xx. */
  accepted(): ReceivedSpan[];
  close(): Promise<void>;
}

const toHex = (b: unknown): string =>
  b instanceof Uint8Array ? Buffer.from(b).toString('hex') : typeof b === 'string' ? b : '';

function flat(v: any): [Flat, string] {
  if (!v || typeof v !== 'object') return [null, 'empty'];
  if ('stringValue' in v && v.stringValue !== undefined) return [v.stringValue, 'stringValue'];
  if ('boolValue' in v && v.boolValue !== undefined) return [v.boolValue, 'boolValue'];
  if ('intValue' in v && v.intValue !== undefined) return [Number(v.intValue), 'intValue'];
  if ('doubleValue' in v && v.doubleValue !== undefined) return [Number(v.doubleValue), 'doubleValue'];
  if ('arrayValue' in v && v.arrayValue) return [(v.arrayValue.values ?? []).map((x: any) => flat(x)[0]), 'arrayValue'];
  if ('kvlistValue' in v && v.kvlistValue) {
    const o: Record<string, Flat> = {};
    for (const kv of v.kvlistValue.values ?? []) o[kv.key] = flat(kv.value)[0];
    return [o, 'kvlistValue'];
  }
  return [null, 'empty'];
}

function attrsOf(list: any[] | undefined): { attributes: Record<string, Flat>; types: Record<string, string> } {
  const attributes: Record<string, Flat> = {};
  const types: Record<string, string> = {};
  for (const kv of list ?? []) [attributes[kv.key], types[kv.key]] = flat(kv.value) as [Flat, string];
  return { attributes, types };
}

/** Decoded ExportTraceServiceRequest (either encoding) -> flat spans. */
export function flattenRequest(msg: any): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of msg.resourceSpans ?? []) {
    const resource = attrsOf(rs.resource?.attributes).attributes;
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const { attributes, types } = attrsOf(s.attributes);
        const parent = toHex(s.parentSpanId);
        const span: ReceivedSpan = {
          traceId: toHex(s.traceId),
          spanId: toHex(s.spanId),
          name: s.name,
          kind: Number(s.kind ?? 0),
          startTimeUnixNano: String(s.startTimeUnixNano),
          endTimeUnixNano: String(s.endTimeUnixNano),
          attributes,
          types,
          links: (s.links ?? []).map((l: any) => ({ traceId: toHex(l.traceId), spanId: toHex(l.spanId) })),
          resource,
          scope: { name: ss.scope?.name ?? '', ...(ss.scope?.version ? { version: ss.scope.version } : {}) },
        };
        if (parent) span.parentSpanId = parent;
        if (s.status && (s.status.code || s.status.message))
          span.status = {
            code: Number(s.status.code ?? 0),
            ...(s.status.message ? { message: s.status.message } : {}),
          };
        out.push(span);
      }
    }
  }
  return out;
}

export function decodeBody(body: Buffer, headers: http.IncomingHttpHeaders): ReceivedSpan[] {
  if (headers['content-encoding'] === 'gzip') body = gunzipSync(body);
  if (String(headers['content-type']).includes('json')) return flattenRequest(JSON.parse(body.toString('utf8')));
  const T = otlpProto().ExportTraceServiceRequest;
  return flattenRequest(T.toObject(T.decode(body), { longs: String, enums: Number, defaults: false }));
}

/**
 * Start a receiver on 127.0.0.1; `reply(n)` decides the answer to the n-th request (from 0).
 * With `tls` (PEM key and certificate) it serves https.
 */
export async function startOtlpReceiver(
  reply: (n: number, req: ReceivedRequest) => Reply = () => ({ status: 200 }),
  opts: { tls?: { key: string; cert: string } } = {},
): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const r: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        rawBytes: raw.length,
        status: 0,
        spans: [],
      };
      try {
        r.spans = decodeBody(raw, req.headers);
      } catch (e) {
        r.status = 400;
        requests.push(r);
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`undecodable: ${(e as Error).message}`);
        return;
      }
      const ans = reply(requests.length, r);
      r.status = ans.status;
      requests.push(r);
      const send = () => res.writeHead(ans.status, ans.headers ?? {}).end(ans.body ?? '');
      if (ans.delayMs) setTimeout(send, ans.delayMs);
      else send();
    });
  };
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.spans),
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      }),
  };
}
