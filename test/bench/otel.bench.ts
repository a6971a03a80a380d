// as-otel throughput: events -> spans (mapping), OTLP protobuf/JSON encoding and gzip, and the
// whole export to a loopback OTLP receiver, for a stream of agentic model calls with tool calls.
import { gzipSync } from 'node:zlib';
import type { LlmCallEvent } from '@agentsight/events';
import {
  buildRequest,
  encodeProtobuf,
  OtelStage,
  type OtlpSpan,
  SpanMapper,
  startOtlpReceiver,
} from '@agentsight/otel';
import { size } from './smoke.js';

const N = size('BENCH_CALLS', 20_000, 1000);
const T0 = 1_764_150_000_000_000;
function call(i: number): LlmCallEvent {
  const start = T0 + i * 10_000;
  const messages: unknown[] = [{ role: 'user', content: 'x'.repeat(400) }];
  if (i % 2)
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: `t${i - 1}`, content: 'ok '.repeat(50) }],
    });
  return {
    v: 1,
    ts: start + 5000,
    src: 'llm',
    type: 'call',
    pid: 1000 + (i % 8),
    tid: 1,
    comm: 'agent',
    id: `c#${i}`,
    provider: 'anthropic',
    api: 'anthropic.messages',
    model: 'claude-sonnet-4-5',
    request: { system: 'You are an agent.', messages, params: { max_tokens: 4096, temperature: 0.7 }, stream: true },
    response: {
      id: `msg_${i}`,
      text: 'answer '.repeat(40),
      thinking: null,
      tool_calls: i % 2 ? [] : [{ id: `t${i}`, name: 'Bash', arguments: { command: 'ls -la' } }],
      finish_reason: i % 2 ? 'end_turn' : 'tool_use',
    },
    usage: { input_tokens: 1200, output_tokens: 80, cache_read_input_tokens: 1000 },
    status: 200,
    timing: { start, ttft_ms: 300, duration_ms: 5 },
    conn: 'c',
    host: 'api.anthropic.com',
    req: `c#${i}`,
  };
}
const events = Array.from({ length: N }, (_, i) => call(i));
const rate = (n: number, ms: number) => `${Math.round((n / ms) * 1000).toLocaleString('en')}/s`;

for (const content of [false, true]) {
  const spans: OtlpSpan[] = [];
  const m = new SpanMapper({ captureContent: content }, (s) => spans.push(s));
  let t0 = performance.now();
  for (const e of events) m.write(e);
  m.end();
  const mapMs = performance.now() - t0;
  const req = buildRequest([], { name: 'bench' }, spans.slice(0, 512));
  t0 = performance.now();
  let pbBytes = 0,
    gzBytes = 0,
    jsonBytes = 0;
  const rounds = Math.ceil(spans.length / 512);
  for (let i = 0; i < rounds; i++) {
    const b = encodeProtobuf(req);
    pbBytes = b.length;
    if (i === 0) gzBytes = gzipSync(b).length;
  }
  const pbMs = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < rounds; i++) jsonBytes = JSON.stringify(req).length;
  const jsonMs = performance.now() - t0;
  console.log(
    `content ${content ? 'on ' : 'off'}: ${N} calls -> ${spans.length} spans; map ${rate(N, mapMs)} calls; protobuf ${rate(rounds * 512, pbMs)} spans (${Math.round(pbBytes / 512)} B/span, gzip ${Math.round(gzBytes / 512)} B/span); json ${rate(rounds * 512, jsonMs)} spans (${Math.round(jsonBytes / 512)} B/span)`,
  );
}

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  const rx = await startOtlpReceiver();
  const stage = new OtelStage({
    url: `${rx.url}/v1/traces`,
    protocol,
    compression: 'gzip',
    resource: [],
    scope: { name: 'bench' },
    captureContent: false,
  });
  const t0 = performance.now();
  for (const e of events) {
    stage.write(e);
    if (stage.exporter.congested) await stage.exporter.room();
  }
  const st = await stage.shutdown(60_000);
  const ms = performance.now() - t0;
  await rx.close();
  console.log(
    `export ${protocol}+gzip to loopback receiver: ${st.exported} spans in ${st.requests} requests, ${Math.round(ms)} ms (${rate(st.exported, ms)} spans, receiver decoding included); rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
  );
}
