// Adversarial property tests (fast-check) for every reader and stage: the NDJSON reader,
// as-http's stage, as-merge's stage, the correlation, the otel mapper and serve ingest.
// Random splits, random bytes, deep nesting, wrong inner types and long lines: nothing
// throws, and every good event comes out.

import { Readable } from 'node:stream';
import { type AgentEvent, formatEvent, parseJson, readEvents, validateEvent } from '@agentsight/events';
import { HttpStage, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import { SpanMapper } from '@agentsight/otel';
import { mockSession, Store } from '@agentsight/serve';
import { CorrelateStage } from '@agentsight/trace';
import fc from 'fast-check';
import t from 'tap';

const RUNS = 150;
const T0 = 1_790_000_000_000_000;
const session = mockSession({ start: T0, agentPid: 4242 });
/** Real events of one agent session: LLM calls, tool processes, files, connections. */
const good: AgentEvent[] = session.events;

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
/** A line that is not an event (never blank, never with a newline). */
const badLine = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 200 }),
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
    fc.integer({ min: 600, max: 20_000 }).map((n) => `{"v":1,"ts":1,"src":"x","type":"y","d":${deep(n)}}`),
    fc.json().filter((j) => validateEvent(JSON.parse(j)) !== null),
    fc
      .constantFrom(...good.filter((e) => e.src === 'llm' && e.type === 'call'))
      .chain((c) =>
        fc
          .constantFrom('text', 'tool_calls', 'thinking')
          .chain((k) =>
            fc
              .oneof(fc.integer(), fc.string(), fc.object())
              .map((v) =>
                JSON.stringify({ ...c, response: { ...(c as unknown as { response: object }).response, [k]: v } }),
              ),
          ),
      ),
  )
  .map((s) => s.replace(/[\n\r]/g, ' '))
  .filter(
    (s) =>
      s.trim().length > 0 &&
      validateEvent(parseJson(s, 512).ok ? (parseJson(s, 512) as { value: unknown }).value : null) !== null,
  );

t.test('NDJSON reader: good events out in order, every bad line one diagnostic, any split', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          fc.constantFrom(...good).map((e) => ({ e })),
          badLine.map((bad) => ({ bad })),
        ),
        { maxLength: 40 },
      ),
      fc.array(fc.nat(), { maxLength: 30 }),
      async (items, cuts) => {
        const text = Buffer.from(items.map((i) => ('e' in i ? formatEvent(i.e) : i.bad + '\n')).join(''));
        const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let p = 0;
        for (const c of [...at, text.length]) {
          chunks.push(text.subarray(p, c));
          p = c;
        }
        const out: AgentEvent[] = [];
        const errs: string[] = [];
        const r = await readEvents(Readable.from(chunks.filter((c) => c.length)), (e) => out.push(e), {
          name: 'f',
          onError: (m) => errs.push(m),
        });
        const want = items.filter((i) => 'e' in i).map((i) => (i as { e: AgentEvent }).e);
        if (JSON.stringify(out) !== JSON.stringify(want)) throw new Error('good events lost or changed');
        if (r.errors !== items.length - want.length) throw new Error(`errors ${r.errors}: ${errs.join('; ')}`);
        for (const m of errs) if (!/^f:\d+: /.test(m)) throw new Error(`not file:line: ${m}`);
      },
    ),
    { numRuns: RUNS },
  );
});

t.test('NDJSON reader: a line past the limit is skipped without holding it', async (t) => {
  const huge = Buffer.alloc(8 << 20, 0x61);
  const before = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const src = Readable.from(
    (function* () {
      yield Buffer.from(formatEvent(good[0]!));
      for (let i = 0; i < 16; i++) {
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
        yield huge;
      }
      yield Buffer.from('\n' + formatEvent(good[1]!));
    })(),
  );
  const out: AgentEvent[] = [];
  const errs: string[] = [];
  await readEvents(src, (e) => out.push(e), { name: 'f', maxLineBytes: 1 << 20, onError: (m) => errs.push(m) });
  t.equal(out.length, 2, 'the events around it');
  t.same(errs, ['f:2: line longer than 1048576 bytes, skipped']);
  t.ok(peak < 64 << 20, `a 128 MiB line is not held (peak ${(peak / 1048576).toFixed(0)} MiB over the start)`);
});

/** Every event a stage emits must be a valid event that serialises. */
function checkOut(e: AgentEvent): void {
  const why = validateEvent(JSON.parse(formatEvent(e)));
  if (why) throw new Error(`emitted an invalid event: ${why}`);
}

const reqText = (body: string) =>
  `POST /v1/messages HTTP/1.1\r\nhost: api.anthropic.com\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const resText = (body: string) =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const jsonBody = fc.oneof(
  fc.json(),
  fc.integer({ min: 300, max: 6000 }).map((n) => `{"model":"m","messages":${deep(n)}}`),
);

t.test('as-http and as-merge stages: random bytes, random splits, deep and random JSON bodies', async () => {
  fc.assert(
    fc.property(
      fc.oneof(
        jsonBody.map((b) => Buffer.from(reqText(b))),
        fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      ),
      fc.oneof(
        jsonBody.map((b) => Buffer.from(resText(b))),
        fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      ),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (req, res, c1, c2) => {
        const cuts = (n: number, c: number[]) =>
          [...new Set(c.map((x) => x % (n + 1)))].filter((x) => x > 0 && x < n).sort((a, b) => a - b);
        const http: AgentEvent[] = [];
        const merge = new MergeStage({}, checkOut);
        const st = new HttpStage({}, (e) => {
          checkOut(e);
          http.push(e);
          merge.write(JSON.parse(formatEvent(e)) as AgentEvent);
        });
        for (const e of sslEvents(req, { conn: 'c1', dir: 'write', cuts: cuts(req.length, c1) })) st.write(e);
        for (const e of sslEvents(res, {
          conn: 'c1',
          dir: 'read',
          cuts: cuts(res.length, c2),
          seq: 100,
          ts: T0 + 1000,
        }))
          st.write(e);
        st.end();
        merge.end();
      },
    ),
    { numRuns: RUNS },
  );
});

/** A valid event with one inner field replaced by something random; only those the reader passes. */
const mutated = fc
  .tuple(fc.constantFrom(...good), fc.anything({ maxDepth: 3 }), fc.nat())
  .map(([e, v, n]) => {
    const x = JSON.parse(JSON.stringify(e)) as Record<string, unknown>;
    const paths: Array<[Record<string, unknown>, string]> = [];
    const walk = (o: Record<string, unknown>, d: number) => {
      for (const k of Object.keys(o)) {
        if (['v', 'ts', 'src', 'type'].includes(k)) continue;
        paths.push([o, k]);
        if (d < 3 && typeof o[k] === 'object' && o[k] !== null) walk(o[k] as Record<string, unknown>, d + 1);
      }
    };
    walk(x, 0);
    if (paths.length) {
      const [o, k] = paths[n % paths.length]!;
      o[k] = v;
    }
    return JSON.parse(JSON.stringify(x)) as AgentEvent;
  })
  .filter((e) => validateEvent(e) === null);

t.test('correlation, otel mapper and serve ingest: any event the reader passes is taken without a throw', async () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.constantFrom(...good), mutated), { minLength: 1, maxLength: 60 }), (evs) => {
      const corr = new CorrelateStage({}, () => {});
      const mapper = new SpanMapper({ resource: {}, scope: { name: 't' }, captureContent: true } as never, () => {});
      const store = new Store(':memory:');
      try {
        for (const e of evs) {
          corr.write(e);
          mapper.write(e);
          store.insert(e);
        }
        corr.end();
        mapper.end();
        store.commit();
        if (store.lastId !== evs.length) throw new Error(`stored ${store.lastId} of ${evs.length}`);
      } finally {
        store.close();
      }
    }),
    { numRuns: RUNS },
  );
});
