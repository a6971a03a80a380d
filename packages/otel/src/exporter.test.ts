import t from 'tap';
import { resolveConfig, tracesUrl } from './config.js';
import { type ExporterOptions, OtlpExporter, retryAfterMs } from './exporter.js';
import { type OtlpSpan, SpanKind } from './otlp.js';
import { startOtlpReceiver } from './testing.js';

const span = (i: number): OtlpSpan => ({
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: (i + 1).toString(16).padStart(16, '0'),
  name: `s${i}`,
  kind: SpanKind.CLIENT,
  startTimeUnixNano: '1764150000123456789',
  endTimeUnixNano: '1764150001123456789',
  attributes: [
    { key: 'n', value: { intValue: i } },
    { key: 'd', value: { doubleValue: 0.5 } },
  ],
});
const base = (url: string, o: Partial<ExporterOptions> = {}): ExporterOptions => ({
  url: `${url}/v1/traces`,
  resource: [{ key: 'service.name', value: { stringValue: 'test' } }],
  scope: { name: 'scope', version: '1' },
  delayMs: 20,
  initialBackoffMs: 10,
  maxBackoffMs: 50,
  ...o,
});

/**
 * A port nothing listens on: tcpmux (1) is reserved and never served here, whereas a
 * freed ephemeral port could be taken by a test running in parallel.
 */
async function deadPort(): Promise<number> {
  return 1;
}

for (const protocol of ['http/protobuf', 'http/json'] as const) {
  for (const compression of ['none', 'gzip'] as const) {
    t.test(
      `${protocol} ${compression}: batches by size, exact round trip through the official definitions`,
      async (t) => {
        const rx = await startOtlpReceiver();
        t.teardown(() => rx.close());
        const ex = new OtlpExporter(
          base(rx.url, { protocol, compression, batchSize: 2, headers: { authorization: 'Bearer x' } }),
        );
        for (let i = 0; i < 5; i++) ex.add(span(i));
        const st = await ex.shutdown(5000);
        t.same(
          rx.requests.map((r) => r.spans.length),
          [2, 2, 1],
        );
        const r0 = rx.requests[0]!;
        t.equal(r0.path, '/v1/traces');
        t.equal(r0.headers['content-type'], protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');
        t.equal(r0.headers['content-encoding'], compression === 'gzip' ? 'gzip' : undefined);
        t.equal(r0.headers.authorization, 'Bearer x');
        const s = rx.accepted()[4]!;
        t.same(s, {
          traceId: '0af7651916cd43dd8448eb211c80319c',
          spanId: '0000000000000005',
          name: 's4',
          kind: 3,
          startTimeUnixNano: '1764150000123456789',
          endTimeUnixNano: '1764150001123456789',
          attributes: { n: 4, d: 0.5 },
          types: { n: 'intValue', d: 'doubleValue' },
          links: [],
          resource: { 'service.name': 'test' },
          scope: { name: 'scope', version: '1' },
        });
        t.same(st, { spans: 5, exported: 5, dropped: 0, failed: 0, requests: 3, retries: 0 });
      },
    );
  }
}

t.test('503 then 200: retried after Retry-After, nothing lost or doubled', async (t) => {
  const rx = await startOtlpReceiver((n) =>
    n === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 },
  );
  t.teardown(() => rx.close());
  const ex = new OtlpExporter(base(rx.url));
  const at: number[] = [];
  const orig = rx.requests.push.bind(rx.requests);
  rx.requests.push = (...r) => {
    at.push(Date.now());
    return orig(...r);
  };
  for (let i = 0; i < 3; i++) ex.add(span(i));
  const st = await ex.shutdown(10_000);
  t.same(
    rx.requests.map((r) => r.status),
    [503, 200],
  );
  t.same(
    rx.accepted().map((s) => s.name),
    ['s0', 's1', 's2'],
  );
  t.ok(at[1]! - at[0]! >= 900, `waited ${at[1]! - at[0]!} ms for Retry-After: 1`);
  t.same(st, { spans: 3, exported: 3, dropped: 0, failed: 0, requests: 2, retries: 1 });
});

t.test('429 and 500 are retried; 400 is not', async (t) => {
  const rx = await startOtlpReceiver((n) => ({
    status: [429, 500, 200, 400][n] ?? 200,
    headers: { 'content-type': 'text/plain' },
    body: n === 3 ? 'bad span' : '',
  }));
  t.teardown(() => rx.close());
  const warnings: string[] = [];
  const ex = new OtlpExporter(base(rx.url, { batchSize: 1, warn: (m) => warnings.push(m) }));
  ex.add(span(0));
  await ex.flush();
  ex.add(span(1));
  const st = await ex.shutdown(5000);
  t.same(
    rx.requests.map((r) => r.status),
    [429, 500, 200, 400],
  );
  t.same(st, { spans: 2, exported: 1, dropped: 0, failed: 1, requests: 4, retries: 2 });
  t.match(warnings.join('\n'), /refused 1 spans \(HTTP 400: bad span\); not retried/);
});

t.test('partial success: rejected spans are counted as failed', async (t) => {
  const rx = await startOtlpReceiver(() => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ partialSuccess: { rejectedSpans: 2, errorMessage: 'too old' } }),
  }));
  t.teardown(() => rx.close());
  const warnings: string[] = [];
  const ex = new OtlpExporter(base(rx.url, { protocol: 'http/json', warn: (m) => warnings.push(m) }));
  for (let i = 0; i < 3; i++) ex.add(span(i));
  const st = await ex.shutdown(5000);
  t.equal(st.exported, 1);
  t.equal(st.failed, 2);
  t.match(warnings[0], /rejected 2 of 3 spans: too old/);
});

t.test('collector down: queue stays bounded, attempts are bounded, shutdown is prompt', async (t) => {
  const port = await deadPort();
  const warnings: string[] = [];
  const ex = new OtlpExporter(
    base(`http://127.0.0.1:${port}`, {
      maxQueueSpans: 50,
      batchSize: 10,
      maxAttempts: 1000,
      warn: (m) => warnings.push(m),
    }),
  );
  let peak = 0;
  for (let i = 0; i < 5000; i++) {
    ex.add(span(i));
    peak = Math.max(peak, ex.queued);
    if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  t.ok(peak <= 50, `queue peak ${peak}`);
  const t0 = Date.now();
  const st = await ex.shutdown(300);
  // 300 ms asked for; the bound only has to tell "prompt" from "1000 attempts of backoff".
  t.ok(Date.now() - t0 < 5000, `shutdown took ${Date.now() - t0} ms`);
  t.equal(st.exported, 0);
  t.equal(st.dropped + st.failed, 5000, 'every span is accounted for as lost');
  t.ok(st.failed <= 60, `at most the queue and one batch fail, the rest are dropped (failed ${st.failed})`);
  t.match(warnings.join('\n'), /export queue full \(50 spans/);
  t.match(ex.lastError, /ECONNREFUSED/);
});

t.test('retry-after parsing', async (t) => {
  t.equal(retryAfterMs('3'), 3000);
  t.equal(retryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
  t.equal(retryAfterMs('soon'), undefined);
  t.equal(retryAfterMs(undefined), undefined);
});

t.test('configuration from flags and OTEL_* variables', async (t) => {
  t.equal(tracesUrl('http://c:4318/'), 'http://c:4318/v1/traces');
  t.equal(tracesUrl('http://c:4318/v1/traces'), 'http://c:4318/v1/traces');
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://gen:4318',
    OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b,x=1',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x=2',
    OTEL_SERVICE_NAME: 'svc',
    OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,deployment.environment=prod',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
  };
  const c = resolveConfig({}, env);
  t.equal(c.url, 'http://gen:4318/v1/traces');
  t.same(c.headers, { 'api-key': 'a b', x: '2' });
  t.equal(c.protocol, 'http/json');
  t.equal(c.compression, 'gzip');
  const res = Object.fromEntries(c.resource.map((kv) => [kv.key, (kv.value as { stringValue: string }).stringValue]));
  t.equal(res['service.name'], 'svc');
  t.equal(res['deployment.environment'], 'prod');
  t.equal(
    resolveConfig({}, { ...env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/custom' }).url,
    'http://t:1/custom',
    'traces endpoint used as is',
  );
  t.equal(resolveConfig({ endpoint: 'http://flag:2' }, env).url, 'http://flag:2/v1/traces');
  t.equal(resolveConfig({}, {}).url, 'http://localhost:4318/v1/traces');
  t.equal(resolveConfig({}, {}).protocol, 'http/protobuf');
  t.throws(() => resolveConfig({ endpoint: 'ftp://x' }, {}), /not an http/);
  t.throws(() => resolveConfig({ protocol: 'grpc' }, {}), /protocol/);
});

t.test('congestion: held input while the collector answers slowly, never while it fails', async (t) => {
  const rx = await startOtlpReceiver(() => ({ status: 200, delayMs: 200 }));
  t.teardown(() => rx.close());
  const ex = new OtlpExporter(base(rx.url, { maxQueueSpans: 20, batchSize: 5 }));
  for (let i = 0; i < 20; i++) ex.add(span(i));
  t.equal(ex.queued, 15, 'one batch in flight');
  t.equal(ex.congested, true, 'half full and healthy');
  let released = false;
  const room = ex.room().then(() => {
    released = true;
  });
  await new Promise((r) => setTimeout(r, 50));
  t.equal(released, false, 'held while the slow request is in flight');
  await room;
  t.ok(ex.queued < 10);
  await ex.shutdown(5000);
  t.equal(ex.stats.exported, 20);

  const down = new OtlpExporter(
    base(`http://127.0.0.1:${await deadPort()}`, { maxQueueSpans: 20, batchSize: 5, maxAttempts: 100 }),
  );
  for (let i = 0; i < 10; i++) down.add(span(i));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(down.congested, false, 'a failing collector does not hold the input');
  await down.room();
  await down.shutdown(100);
});

t.test('OTEL_EXPORTER_OTLP_TIMEOUT and OTEL_BSP_* variables', async (t) => {
  const c = resolveConfig(
    {},
    {
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
      OTEL_BSP_SCHEDULE_DELAY: '200',
      OTEL_BSP_MAX_QUEUE_SIZE: '100',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
    },
  );
  t.same([c.timeoutMs, c.delayMs, c.maxQueueSpans, c.batchSize], [2500, 200, 100, 10]);
  t.same([resolveConfig({}, {}).timeoutMs, resolveConfig({}, {}).batchSize], [undefined, undefined]);
  t.throws(() => resolveConfig({}, { OTEL_BSP_MAX_QUEUE_SIZE: 'many' }), /OTEL_BSP_MAX_QUEUE_SIZE/);
  t.throws(() => resolveConfig({}, { OTEL_EXPORTER_OTLP_CERTIFICATE: '/nonexistent/ca.pem' }), /CERTIFICATE/);
});
