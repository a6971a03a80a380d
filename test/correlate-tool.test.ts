// as-merge --correlate as a user runs it: the option is documented, the correlation step
// runs after the merge (http exchanges become llm/call first, then link to proc events in
// the same input), --loop-threshold is honoured, and without --correlate nothing is added.

import { type AgentEvent, formatEvent, validateEvent } from '@agentsight/events';
import { testing } from '@agentsight/trace';
import t from 'tap';
import { runTool } from './lib/run.js';

const { T0, exec, shell } = testing;
const MS = 1000;
const AGENT = 4242;

/** One Anthropic exchange as as-http gives it: a request, then a JSON response. */
function exchange(n: number, start: number, messages: unknown[], content: unknown[]): AgentEvent[] {
  const id = `c#${n}`;
  const body = JSON.stringify({ model: 'claude-x', max_tokens: 100, messages });
  const resp = JSON.stringify({
    id: `msg_${n}`,
    type: 'message',
    role: 'assistant',
    model: 'claude-x',
    content,
    stop_reason: content.some((b) => (b as { type: string }).type === 'tool_use') ? 'tool_use' : 'end_turn',
    usage: { input_tokens: 5, output_tokens: 5 },
  });
  const base = { v: 1 as const, src: 'http' as const, conn: 'c', pid: AGENT, tid: AGENT, comm: 'agent' };
  return [
    {
      ...base,
      ts: start,
      type: 'request',
      id,
      method: 'POST',
      path: '/v1/messages',
      host: 'api.anthropic.com',
      headers: { 'content-type': 'application/json' },
      body_size: body.length,
      start_ts: start,
      data: body,
      enc: 'utf8',
    },
    {
      ...base,
      ts: start + 50 * MS,
      type: 'response',
      req: id,
      status: 200,
      headers: { 'content-type': 'application/json' },
      body_size: resp.length,
      latency_ms: 50,
      start_ts: start + 40 * MS,
      data: resp,
      enc: 'utf8',
    },
  ] as AgentEvent[];
}

/** An agent that runs `make` three times, failing, then gives up. */
function capture(): string {
  const evs: AgentEvent[] = [exec(AGENT, 1, ['node', 'agent.js'], T0 - 1000 * MS)];
  const hist: unknown[] = [{ role: 'user', content: 'build' }];
  let ts = T0;
  for (let i = 0; i < 3; i++) {
    const use = { type: 'tool_use', id: `toolu_${i}`, name: 'bash', input: { command: 'make all' } };
    evs.push(...exchange(i, ts, [...hist], [use]));
    evs.push(...shell(5000 + i, AGENT, 'make all', ts + 100 * MS, 2));
    hist.push(
      { role: 'assistant', content: [use] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: `toolu_${i}`, content: 'make: *** [all] Error 2', is_error: true },
        ],
      },
    );
    ts += 300 * MS;
  }
  evs.push(...exchange(3, ts, hist, [{ type: 'text', text: 'It does not build.' }]));
  return evs.map(formatEvent).join('');
}

t.test('--help documents --correlate and --loop-threshold', async (t) => {
  const r = await runTool('as-merge', ['--help']);
  t.equal(r.code, 0);
  t.match(r.stdout.toString(), '--correlate');
  t.match(r.stdout.toString(), '--loop-threshold');
});

t.test('as-merge --correlate: links and alerts after the merged calls', async (t) => {
  const input = capture();
  const r = await runTool('as-merge', ['--correlate'], { stdin: input, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  for (const e of r.events) t.equal(validateEvent(e), null, `valid: ${JSON.stringify(e).slice(0, 80)}`);
  const calls = r.events.filter((e) => e.src === 'llm' && e.type === 'call');
  t.equal(calls.length, 4);
  const tp = r.events.filter((e) => e.src === 'trace' && e.kind === 'tool_process');
  t.same(
    tp.map((l) => [l.from, l.to]),
    [
      ['toolu_0', [5000]],
      ['toolu_1', [5001]],
      ['toolu_2', [5002]],
    ],
  );
  t.same(
    r.events.filter((e) => e.src === 'trace' && e.kind === 'tool_result').map((l) => [l.from, l.to]),
    [
      ['toolu_0', calls[1]!.id],
      ['toolu_1', calls[2]!.id],
      ['toolu_2', calls[3]!.id],
    ],
  );
  t.equal(r.events.filter((e) => e.src === 'trace' && e.kind === 'session').length, 4);
  const loops = r.events.filter((e) => e.src === 'trace' && e.type === 'alert' && e.rule === 'tool_loop');
  t.equal(loops.length, 1);
  t.same(
    r.events.filter((e) => e.src === 'proc').length,
    input.split('\n').filter((l) => l.includes('"src":"proc"')).length,
    'proc events pass through',
  );

  const high = await runTool('as-merge', ['--correlate', '--loop-threshold', '4'], { stdin: input, timeoutMs: 30_000 });
  t.equal(
    high.events.filter((e) => e.src === 'trace' && e.type === 'alert').length,
    0,
    'three failures are no loop at threshold 4',
  );
  const plain = await runTool('as-merge', [], { stdin: input, timeoutMs: 30_000 });
  t.equal(plain.events.filter((e) => e.src === 'trace').length, 0, 'no correlation without --correlate');
});
