import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { otelStageFrom } from './stage.js';
import { startOtlpReceiver } from './testing.js';

const T0 = 1_764_150_000_000_000;
const call = (i: number): AgentEvent =>
  ({
    v: 1,
    ts: T0 + i * 1000 + 500,
    src: 'llm',
    type: 'call',
    pid: 9,
    tid: 9,
    comm: 'agent',
    id: `c#${i}`,
    provider: 'openai',
    api: 'openai.chat',
    model: 'gpt-x',
    request: { messages: [{ role: 'user', content: 'hi' }], stream: true },
    response: { id: `r${i}`, text: 'yo', thinking: null, tool_calls: [], finish_reason: 'stop' },
    usage: { input_tokens: 1, output_tokens: 1 },
    status: 200,
    timing: { start: T0 + i * 1000, duration_ms: 0.5 },
    conn: 'c',
    host: 'api.openai.com',
    req: `c#${i}`,
  }) as AgentEvent;

t.test('in-process: events pass through to emit; spans reach the collector on shutdown', async (t) => {
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  const passed: AgentEvent[] = [];
  const stage = otelStageFrom(
    { endpoint: rx.url, protocol: 'http/json' },
    { version: '9.9.9', env: { OTEL_SERVICE_NAME: 'inproc' }, emit: (e) => passed.push(e) },
  );
  const other = { v: 1, ts: T0, src: 'http', type: 'unparsed', conn: 'x', reason: 'tls', bytes: 1 } as AgentEvent;
  stage.write(other);
  for (let i = 0; i < 3; i++) stage.write(call(i));
  stage.end();
  const st = await stage.shutdown(5000);
  t.equal(passed.length, 4);
  t.equal(passed[0], other);
  t.same(st, { spans: 4, exported: 4, dropped: 0, failed: 0, requests: 1, retries: 0 });
  const spans = rx.accepted();
  t.same(spans.map((s) => s.name).sort(), ['chat gpt-x', 'chat gpt-x', 'chat gpt-x', 'invoke_agent agent']);
  t.equal(spans[0]!.resource['service.name'], 'inproc');
  t.same(spans[0]!.scope, { name: 'agentsight.otel', version: '9.9.9' });
  t.throws(() => otelStageFrom({ endpoint: 'nope' }), /endpoint/);
});
