// Exporter settings from flags and the standard OTEL_* environment variables
// (flags win, then the traces-specific variable, then the generic one).
import fs from 'node:fs';
import { hostIdentity } from '@agentsight/events';
import { Attrs, type KeyValue, parseKeyValueList } from './attrs.js';
import type { Protocol } from './exporter.js';

export const DEFAULT_ENDPOINT = 'http://localhost:4318';

export interface ResolvedConfig {
  url: string;
  /** PEM of the CA to trust for an https endpoint (OTEL_EXPORTER_OTLP_CERTIFICATE). */
  ca?: string;
  /** From OTEL_EXPORTER_OTLP_TIMEOUT and OTEL_BSP_*, when set and not given as flags. */
  timeoutMs?: number;
  delayMs?: number;
  maxQueueSpans?: number;
  batchSize?: number;
  headers: Record<string, string>;
  protocol: Protocol;
  compression: 'gzip' | 'none';
  resource: KeyValue[];
}

/** A base endpoint gets /v1/traces appended; a URL already naming it is used as is. */
export function tracesUrl(base: string): string {
  const u = base.replace(/\/+$/, '');
  return u.endsWith('/v1/traces') ? u : `${u}/v1/traces`;
}

export function resolveConfig(
  flags: { endpoint?: string; protocol?: string; compression?: string; headers?: string[]; serviceName?: string },
  env: NodeJS.ProcessEnv = process.env,
  version = '0.0.0',
): ResolvedConfig {
  let url: string;
  if (flags.endpoint) url = tracesUrl(flags.endpoint);
  else if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) url = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  else url = tracesUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT || DEFAULT_ENDPOINT);
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new Error(`endpoint: not an http(s) URL: ${url}`);
  }

  const headers: Record<string, string> = {};
  for (const [k, v] of parseKeyValueList(env.OTEL_EXPORTER_OTLP_HEADERS)) headers[k.toLowerCase()] = v;
  for (const [k, v] of parseKeyValueList(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS)) headers[k.toLowerCase()] = v;
  for (const h of flags.headers ?? []) for (const [k, v] of parseKeyValueList(h)) headers[k.toLowerCase()] = v;

  const protocol =
    flags.protocol ?? env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json')
    throw new Error(`protocol: want http/protobuf or http/json, got ${protocol}`);
  const compression =
    flags.compression ?? env.OTEL_EXPORTER_OTLP_TRACES_COMPRESSION ?? env.OTEL_EXPORTER_OTLP_COMPRESSION ?? 'none';
  if (compression !== 'gzip' && compression !== 'none')
    throw new Error(`compression: want gzip or none, got ${compression}`);

  // service.name: flag, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, then ours.
  const res = new Map<string, string>([
    ['service.name', 'agentsight'],
    ['telemetry.sdk.name', 'agentsight'],
    ['telemetry.sdk.language', 'nodejs'],
    ['telemetry.sdk.version', version],
    ['host.name', hostIdentity().name],
  ]);
  const hostId = hostIdentity().id;
  if (hostId) res.set('host.id', hostId);
  for (const [k, v] of parseKeyValueList(env.OTEL_RESOURCE_ATTRIBUTES)) res.set(k, v);
  if (env.OTEL_SERVICE_NAME) res.set('service.name', env.OTEL_SERVICE_NAME);
  if (flags.serviceName) res.set('service.name', flags.serviceName);
  const a = new Attrs();
  for (const [k, v] of res) a.str(k, v);
  const cfg: ResolvedConfig = { url, headers, protocol, compression, resource: a.list };

  const caPath = env.OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE || env.OTEL_EXPORTER_OTLP_CERTIFICATE;
  if (caPath) {
    try {
      cfg.ca = fs.readFileSync(caPath, 'utf8');
    } catch (e) {
      throw new Error(`OTEL_EXPORTER_OTLP_CERTIFICATE: ${(e as Error).message}`);
    }
  }
  const num = (...names: string[]): number | undefined => {
    for (const n of names) {
      const v = env[n];
      if (v === undefined || v === '') continue;
      const x = Number(v);
      if (!Number.isFinite(x) || x <= 0) throw new Error(`${n}: want a positive number, got ${v}`);
      return x;
    }
    return undefined;
  };
  const timeoutMs = num('OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT');
  const delayMs = num('OTEL_BSP_SCHEDULE_DELAY');
  const maxQueueSpans = num('OTEL_BSP_MAX_QUEUE_SIZE');
  const batchSize = num('OTEL_BSP_MAX_EXPORT_BATCH_SIZE');
  if (timeoutMs !== undefined) cfg.timeoutMs = timeoutMs;
  if (delayMs !== undefined) cfg.delayMs = delayMs;
  if (maxQueueSpans !== undefined) cfg.maxQueueSpans = Math.floor(maxQueueSpans);
  if (batchSize !== undefined) cfg.batchSize = Math.floor(batchSize);
  return cfg;
}
