import { createRequire } from 'node:module';
import type { AnyValue, KeyValue } from './attrs.js';

/** SpanKind and StatusCode numbers from opentelemetry/proto/trace/v1/trace.proto. */
export const SpanKind = { INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export interface OtlpLink {
  traceId: string;
  spanId: string;
  attributes?: KeyValue[];
}

export interface OtlpEvent {
  timeUnixNano: string;
  name: string;
  attributes?: KeyValue[];
}

/** One span in the OTLP/JSON encoding (ids as hex, times as decimal nanosecond strings). */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  events?: OtlpEvent[];
  links?: OtlpLink[];
  status?: { code: number; message?: string };
}

export interface ExportRequest {
  resourceSpans: Array<{
    resource: { attributes: KeyValue[] };
    scopeSpans: Array<{ scope: { name: string; version?: string }; spans: OtlpSpan[] }>;
  }>;
}

export function buildRequest(
  resource: KeyValue[],
  scope: { name: string; version?: string },
  spans: OtlpSpan[],
): ExportRequest {
  return { resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ scope, spans }] }] };
}

// The official OTLP definitions, compiled to a protobufjs static module by the
// OpenTelemetry JS project and shipped in @opentelemetry/otlp-transformer 0.52.
interface PbType {
  encode(msg: unknown): { finish(): Uint8Array };
  decode(buf: Uint8Array): unknown;
  toObject(msg: unknown, opts?: Record<string, unknown>): Record<string, any>;
}
interface PbRoot {
  opentelemetry: {
    proto: { collector: { trace: { v1: { ExportTraceServiceRequest: PbType; ExportTraceServiceResponse: PbType } } } };
  };
}
let root: PbRoot | undefined;
export function otlpProto(): PbRoot['opentelemetry']['proto']['collector']['trace']['v1'] {
  root ??= createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as PbRoot;
  return root.opentelemetry.proto.collector.trace.v1;
}

/** A fixed64 for protobufjs as {low, high}: plain numbers would lose nanosecond precision. */
function fixed64(nanos: string): { low: number; high: number; unsigned: boolean } {
  const n = BigInt(nanos);
  return { low: Number(n & 0xffffffffn) | 0, high: Number((n >> 32n) & 0xffffffffn) | 0, unsigned: true };
}

function pbValue(v: AnyValue): Record<string, unknown> {
  if ('arrayValue' in v) return { arrayValue: { values: v.arrayValue.values.map(pbValue) } };
  if ('kvlistValue' in v) return { kvlistValue: { values: v.kvlistValue.values.map(pbKv) } };
  return v;
}
function pbKv(kv: KeyValue): Record<string, unknown> {
  return { key: kv.key, value: pbValue(kv.value) };
}
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

function pbSpan(s: OtlpSpan): Record<string, unknown> {
  return {
    traceId: hex(s.traceId),
    spanId: hex(s.spanId),
    parentSpanId: s.parentSpanId ? hex(s.parentSpanId) : undefined,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: fixed64(s.startTimeUnixNano),
    endTimeUnixNano: fixed64(s.endTimeUnixNano),
    attributes: s.attributes.map(pbKv),
    events: (s.events ?? []).map((e) => ({
      timeUnixNano: fixed64(e.timeUnixNano),
      name: e.name,
      attributes: (e.attributes ?? []).map(pbKv),
    })),
    links: (s.links ?? []).map((l) => ({
      traceId: hex(l.traceId),
      spanId: hex(l.spanId),
      attributes: (l.attributes ?? []).map(pbKv),
    })),
    status: s.status ? { code: s.status.code, message: s.status.message ?? '' } : undefined,
  };
}

/** Encode an export request as protobuf (ExportTraceServiceRequest). */
export function encodeProtobuf(req: ExportRequest): Uint8Array {
  const msg = {
    resourceSpans: req.resourceSpans.map((rs) => ({
      resource: { attributes: rs.resource.attributes.map(pbKv) },
      scopeSpans: rs.scopeSpans.map((ss) => ({ scope: ss.scope, spans: ss.spans.map(pbSpan) })),
    })),
  };
  return otlpProto().ExportTraceServiceRequest.encode(msg).finish();
}

/** Spans the collector said it rejected (partial success), from a 2xx response body. */
export function rejectedSpans(
  body: Uint8Array,
  contentType: string | undefined,
): { rejected: number; message: string } {
  if (!body.length) return { rejected: 0, message: '' };
  try {
    let ps: { rejectedSpans?: unknown; errorMessage?: unknown } | undefined;
    if (contentType?.includes('json')) {
      ps = (JSON.parse(Buffer.from(body).toString('utf8')) as { partialSuccess?: typeof ps }).partialSuccess;
    } else {
      const P = otlpProto().ExportTraceServiceResponse;
      ps = P.toObject(P.decode(body), { longs: Number }).partialSuccess as typeof ps;
    }
    return {
      rejected: Number(ps?.rejectedSpans ?? 0) || 0,
      message: typeof ps?.errorMessage === 'string' ? ps.errorMessage : '',
    };
  } catch {
    return { rejected: 0, message: '' };
  }
}
