// One call costs the same wherever it is shown: the web UI (as-serve's calls API), the OTLP
// attribute (as-otel), `agentsight report` and the summary `agentsight exec` prints, all
// from the one price table and cost function in @agentsight/llm. The calls cover each API's
// own way of counting tokens (Anthropic's cache apart, OpenAI's cache inside, Gemini's
// thoughts apart), a model whose two old tables disagreed 3x (Opus 4.5), and one unpriced.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentEvent, LlmCallEvent, Usage } from '@agentsight/events';
import { callCost, costOf } from '@agentsight/llm';
import { DEFAULT_MODEL } from '@agentsight/mock-llm';
import { type OtlpSpan, SpanMapper } from '@agentsight/otel';
import { Report, summaryLines } from '@agentsight/report';
import { Queries, SessionQueries, Store } from '@agentsight/serve';
import t from 'tap';

const T0 = 1_800_000_000_000_000;
let n = 0;
function call(api: LlmCallEvent['api'], provider: string, model: string, usage: Usage): LlmCallEvent {
  n++;
  return {
    v: 1,
    ts: T0 + n * 1000,
    src: 'llm',
    type: 'call',
    pid: 100 + n,
    tid: 100 + n,
    comm: 'agent',
    id: `c${n}`,
    provider,
    api,
    model,
    request: { stream: false, messages: [{ role: 'user', content: 'hi' }] },
    response: { text: 'ok', thinking: null, tool_calls: [], finish_reason: 'stop' },
    usage,
    status: 200,
    timing: { start: T0 + n * 1000 - 500, duration_ms: 0.5 },
    conn: `k${n}`,
    req: `k${n}#0`,
  };
}

const calls = [
  call('anthropic.messages', 'anthropic', 'claude-opus-4-5-20251101', { input_tokens: 1e6, output_tokens: 1e6 }),
  call('anthropic.messages', 'anthropic', 'claude-sonnet-4-5-20250929', {
    input_tokens: 1200,
    cache_read_input_tokens: 50_000,
    cache_creation_input_tokens: 3000,
    output_tokens: 800,
  }),
  call('openai.chat', 'openai', 'gpt-4o-2024-08-06', {
    input_tokens: 20_000,
    cache_read_input_tokens: 15_000,
    output_tokens: 500,
  }),
  call('openai.responses', 'openai', 'gpt-5-codex', {
    input_tokens: 9000,
    cache_read_input_tokens: 4000,
    output_tokens: 700,
    reasoning_tokens: 300,
  }),
  call('gemini', 'google', 'gemini-2.5-flash', { input_tokens: 4000, output_tokens: 200, reasoning_tokens: 900 }),
  call('openai.chat', 'groq', 'llama-3.3-70b-versatile', { input_tokens: 5000, output_tokens: 1000 }),
  call('openai.chat', 'ollama', 'my-local-model', { input_tokens: 10, output_tokens: 5 }),
];

const round = (x: number | null | undefined) => (x == null ? null : Math.round(x * 1e9) / 1e9);

t.test('the same call costs the same in the UI, OTLP, report and the exit summary', async (t) => {
  const expected = calls.map((c) => round(callCost(c)));
  t.equal(expected[0], 30, 'Opus 4.5: $5 in and $25 out per million');
  t.equal(expected[6], null, 'an unknown model has no cost, not 0');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cost-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new Store(path.join(dir, 's.db'));
  for (const c of calls) store.insert(c as AgentEvent);
  store.commit();
  const ui = new Queries(store).calls(new URLSearchParams('limit=100')).calls as Array<{
    id: string;
    cost_usd: number | null;
  }>;
  store.close();
  t.same(
    calls.map((c) => round(ui.find((r) => r.id === c.id)?.cost_usd)),
    expected,
    'as-serve (the web UI)',
  );

  const spans: OtlpSpan[] = [];
  const m = new SpanMapper({}, (s) => spans.push(s));
  for (const c of calls) m.write(c);
  m.end();
  const otel = calls.map((c) => {
    const s = spans.find((x) =>
      x.attributes.some((kv) => kv.key === 'agentsight.http.request' && Object.values(kv.value)[0] === c.req),
    );
    const v = s?.attributes.find((kv) => kv.key === 'agentsight.llm.cost_usd')?.value;
    return round(v ? (Object.values(v)[0] as number) : null);
  });
  t.same(otel, expected, 'as-otel attribute');

  const report = new Report();
  for (const c of calls) report.add(c);
  t.same(
    calls.map((c) => round(report.costOf(c))),
    expected,
    'agentsight report',
  );
  const total = expected.reduce((a: number, b) => a + (b ?? 0), 0);
  t.equal(round(report.summary().cost_usd), round(total), 'the summary adds them up');
  t.match(
    summaryLines(report.summary()).join('\n'),
    `est. cost $${total.toFixed(2)}`,
    'agentsight exec prints that total',
  );
});

t.test(
  'with --prices, every view uses the table given: calls, sessions, overview, OTLP, report, exit summary',
  async (t) => {
    const prices = { 'claude-opus-4-5': { input: 1, output: 2 }, 'my-local-model': { input: 1000, output: 1000 } };
    const expected = calls.map((c) => round(callCost(c, prices)));
    t.equal(expected[0], 3, 'the table wins over the dataset');
    t.equal(expected[6], 0.015, 'and prices what the dataset does not');
    t.equal(expected[1], round(callCost(calls[1]!)), 'the rest at the dataset’s prices');
    const store = new Store(':memory:', { prices });
    for (const c of calls) store.insert(c as AgentEvent);
    store.commit();
    const q = new Queries(store);
    const ui = q.calls(new URLSearchParams('limit=100')).calls as Array<{ id: string; cost_usd: number | null }>;
    t.same(
      calls.map((c) => round(ui.find((r) => r.id === c.id)?.cost_usd)),
      expected,
      'as-serve calls',
    );
    const sq = new SessionQueries(q);
    const sessions = sq.list(new URLSearchParams('limit=100')).sessions;
    const total = expected.reduce((a: number, b) => a + (b ?? 0), 0);
    t.equal(round(sessions.reduce((a, s) => a + (s.cost ?? 0), 0)), round(total), 'as-serve sessions');
    t.equal(
      round(sq.overview(new URLSearchParams()).byModel.reduce((a, m) => a + (m.cost ?? 0), 0)),
      round(total),
      'overview',
    );
    store.close();
    const spans: OtlpSpan[] = [];
    const m = new SpanMapper({ prices }, (s) => spans.push(s));
    for (const c of calls) m.write(c);
    m.end();
    t.same(
      calls.map((c) => {
        const s = spans.find((x) =>
          x.attributes.some((kv) => kv.key === 'agentsight.http.request' && Object.values(kv.value)[0] === c.req),
        );
        const v = s?.attributes.find((kv) => kv.key === 'agentsight.llm.cost_usd')?.value;
        return round(v ? (Object.values(v)[0] as number) : null);
      }),
      expected,
      'OTLP',
    );
    const report = new Report(prices);
    for (const c of calls) report.add(c);
    t.same(
      calls.map((c) => round(report.costOf(c))),
      expected,
      'report',
    );
    t.match(summaryLines(report.summary()).join('\n'), `est. cost $${total.toFixed(2)}`, 'exit summary');
  },
);

const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/corpus/llm-streams');
const CORPUS_PROVIDER: Record<string, string> = {
  anthropic: 'anthropic',
  'openai-chat': 'openai',
  'openai-responses': 'openai',
  gemini: 'google',
};
// The corpus's OpenAI-compatible recordings come from other providers, named by the file.
const FILE_PROVIDER: Record<string, string> = {
  azure: 'azure',
  deepseek: 'deepseek',
  grok: 'xai',
  groq: 'groq',
  qwen: 'qwen',
};
const MOCK_PROVIDER: Record<string, string> = {
  'anthropic.messages': 'anthropic',
  'openai.chat': 'openai',
  'openai.responses': 'openai',
  gemini: 'google',
};

/** Every string under a `model` or `modelVersion` key. */
function modelNames(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) modelNames(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'model' || k === 'modelVersion') && typeof x === 'string') out.push(x);
      else modelNames(x, out);
    }
  }
  return out;
}

t.test(
  "every model in the mock's and the corpus's traffic, and the clouds' and open models' ids, is priced",
  async (t) => {
    const models = new Map<string, string>(); // "provider model" -> where it comes from
    for (const [api, m] of Object.entries(DEFAULT_MODEL)) models.set(`${MOCK_PROVIDER[api]} ${m}`, 'mock-llm');
    const dirs = fs.readdirSync(CORPUS).filter((d) => fs.statSync(path.join(CORPUS, d)).isDirectory());
    t.same(dirs.sort(), Object.keys(CORPUS_PROVIDER).sort(), 'each corpus directory has its provider here');
    for (const d of dirs) {
      for (const f of fs.readdirSync(path.join(CORPUS, d)).filter((f) => /\.(request|expected)\.json$/.test(f))) {
        for (const m of modelNames(JSON.parse(fs.readFileSync(path.join(CORPUS, d, f), 'utf8'))))
          models.set(`${FILE_PROVIDER[f.split('-')[0]!] ?? CORPUS_PROVIDER[d]} ${m}`, `${d}/${f}`);
      }
    }
    t.ok([...models.values()].filter((w) => w !== 'mock-llm').length >= 4, 'the corpus was read');
    for (const m of [
      'anthropic.claude-sonnet-4-5-20250929-v1:0',
      'us.anthropic.claude-sonnet-4-20250514-v1:0',
      'global.anthropic.claude-sonnet-4-5-20250929-v1:0',
      'eu.anthropic.claude-3-7-sonnet-20250219-v1:0',
      'anthropic.claude-3-opus-20240229-v1:0',
      'us.anthropic.claude-opus-4-1-20250805-v1:0',
    ])
      models.set(`bedrock ${m}`, 'Bedrock');
    for (const pm of [
      'anthropic claude-3-opus-20240229',
      'openai o1-2024-12-17',
      'openai o1',
      'mistral mistral-large-latest',
      'mistral codestral-latest',
      'mistral devstral-small-2507',
      'qwen qwen-plus',
      'qwen qwen3-coder-plus',
      'qwen qwen-max',
      'groq llama-3.3-70b-versatile',
      'together meta-llama/Llama-3.3-70B-Instruct-Turbo',
      'openrouter meta-llama/llama-3.3-70b-instruct',
      'openrouter qwen/qwen-2.5-72b-instruct',
    ])
      models.set(pm, 'issue 15');
    for (const [pm, where] of models) {
      const [provider, model] = pm.split(' ') as [string, string];
      const cost = costOf(model, provider, { input: 1000, output: 100 }, undefined, T0);
      // Gemma on the Gemini API is free: priced at 0, which is not unpriced.
      t.ok(
        cost !== undefined && (cost > 0 || /^gemma-/.test(model)),
        `${model} (${provider}, from ${where}) is priced: ${cost}`,
      );
    }
  },
);
