import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { formatAudit, formatPrompts, formatTokens, Report, summaryLines, table } from './index.js';

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0) * 1000;
let n = 0;
function call(
  api: string,
  model: string,
  usage: Record<string, number>,
  extra: Record<string, unknown> = {},
): AgentEvent {
  n++;
  return {
    v: 1,
    ts: T0 + n * 1_000_000,
    src: 'llm',
    type: 'call',
    id: `c${n}`,
    provider: api.split('.')[0],
    api,
    model,
    request: { stream: true, messages: [{ role: 'user', content: [{ type: 'text', text: `question ${n}` }] }] },
    response: { text: 'ok', thinking: null, tool_calls: [], finish_reason: 'stop' },
    usage,
    status: 200,
    timing: { start: T0, duration_ms: 5 },
    conn: '1:0x1',
    req: '1:0x1#0',
    pid: 100,
    comm: 'agent',
    host: 'api.example.com',
    ...extra,
  } as unknown as AgentEvent;
}

t.test("cost follows each API's way of counting tokens", async (t) => {
  const r = new Report();
  // Anthropic: input excludes cache; 1M each at sonnet-4 prices: 3 + 0.3 + 3.75 + 15.
  r.add(
    call('anthropic.messages', 'claude-sonnet-4-20250514', {
      input_tokens: 1e6,
      cache_read_input_tokens: 1e6,
      cache_creation_input_tokens: 1e6,
      output_tokens: 1e6,
    }),
  );
  // OpenAI: prompt tokens include the cached ones: (2M-1M)*2.5 + 1M*1.25 + 1M*10.
  r.add(
    call('openai.chat', 'gpt-4o-2024-08-06', { input_tokens: 2e6, cache_read_input_tokens: 1e6, output_tokens: 1e6 }),
  );
  // Gemini: thoughts are billed as output on top of candidates: 1M*0.3 + (1M+1M)*2.5.
  r.add(call('gemini', 'gemini-2.5-flash', { input_tokens: 1e6, output_tokens: 1e6, reasoning_tokens: 1e6 }));
  r.add(call('openai.chat', 'some-local-model', { input_tokens: 10, output_tokens: 5 }));
  const rows = r.tokens('model');
  const by = Object.fromEntries(rows.map((x) => [x.key, x]));
  t.equal(by['claude-sonnet-4-20250514']!.cost, 22.05);
  t.equal(by['gpt-4o-2024-08-06']!.cost, 13.75);
  t.equal(by['gemini-2.5-flash']!.cost, 5.3);
  t.equal(by['some-local-model']!.cost, null, 'unknown model: no cost, not zero');
  const s = r.summary();
  t.equal(s.llm_calls, 4);
  t.equal(Math.round(s.cost_usd! * 100), 4110);
  t.same(
    r
      .tokens('provider')
      .map((x) => x.key)
      .sort(),
    ['anthropic', 'gemini', 'openai'],
  );
  t.same(
    r.tokens('day').map((x) => x.key),
    ['2026-11-26'],
  );
  t.same(
    r.tokens('process').map((x) => x.key),
    ['agent[100]'],
  );
  t.match(
    formatTokens(rows, 'model'),
    /claude-sonnet-4-20250514 +1 +0 +3,000,000 +1,000,000/,
    'input counts the cached input',
  );
});

t.test("a price table given (--prices) wins over the dataset's prices, which price the rest", async (t) => {
  const r = new Report({ mock: { input: 1, output: 2 }, 'gpt-4o-mini': { input: 1, output: 1 } });
  r.add(call('openai.chat', 'mock-model', { input_tokens: 1e6, output_tokens: 1e6 }));
  r.add(call('openai.chat', 'gpt-4o-mini', { input_tokens: 1e6, output_tokens: 1e6 }));
  r.add(call('openai.chat', 'gpt-4o', { input_tokens: 1e6, output_tokens: 1e6 }));
  t.same(
    r
      .tokens('model')
      .map((x) => [x.key, x.cost])
      .sort(),
    [
      ['gpt-4o', 12.5],
      ['gpt-4o-mini', 2],
      ['mock-model', 3],
    ],
  );
});

t.test('audit: processes with exits, files written (not read), hosts', async (t) => {
  const r = new Report();
  const ev = (e: Record<string, unknown>) => r.add({ v: 1, ts: T0 + 500, ...e } as unknown as AgentEvent);
  ev({ src: 'proc', type: 'snapshot', pid: 100, ppid: 1, comm: 'agent', argv: ['node', 'agent.js'] });
  ev({
    src: 'proc',
    type: 'exec',
    pid: 101,
    ppid: 100,
    uid: 0,
    comm: 'sh',
    filename: '/bin/sh',
    argv: ['sh', '-c', 'make'],
  });
  ev({ src: 'proc', type: 'exit', pid: 101, comm: 'sh', exit_code: 2, ts: T0 + 500 + 250_000 });
  ev({ src: 'proc', type: 'open', pid: 101, path: '/src/a.c', flags: 0, ret: 3 });
  ev({ src: 'proc', type: 'open', pid: 101, path: '/src/out.o', flags: 0o1101, ret: 4 });
  ev({ src: 'proc', type: 'open', pid: 101, path: '/src/denied', flags: 0o101, ret: -13 });
  ev({ src: 'proc', type: 'rename', pid: 101, path: '/src/t', to: '/src/u', ret: 0 });
  ev({ src: 'proc', type: 'open', pid: 101, path: '/dev/null', flags: 0o1, ret: 5 });
  ev({ src: 'proc', type: 'open', pid: 101, path: '/dev/pts/0', flags: 0o2, ret: 6 });
  ev({ src: 'proc', type: 'open', pid: 101, path: '/proc/self/oom_score_adj', flags: 0o1, ret: 7 });
  ev({ src: 'proc', type: 'open', pid: 101, path: '/dev/shm/sem.x', flags: 0o102, ret: 8 });
  ev({
    src: 'trace',
    type: 'alert',
    pid: 101,
    rule: 'sensitive_file',
    severity: 'critical',
    message: 'read ~/.ssh/id_rsa',
    evidence: {},
  });
  ev({ src: 'proc', type: 'connect', pid: 101, family: 'inet', addr: '127.0.0.1', port: 443, ret: 0 });
  ev({ src: 'proc', type: 'connect', pid: 101, family: 'inet6', addr: '::1', port: 8443, ret: -115 });
  ev({ src: 'proc', type: 'connect', pid: 101, family: 'inet', addr: '10.0.0.9', port: 80, ret: -111 });
  ev({ src: 'proc', type: 'connect', pid: 101, family: 'unix', addr: '/var/run/nscd/socket', ret: 0 });
  ev({ src: 'ssl', type: 'lost', records: 2, bytes: 100 });
  const a = r.audit();
  t.same(
    a.processes.map((p) => [p.pid, p.exit_code]),
    [
      [100, null],
      [101, 2],
    ],
  );
  t.equal(a.processes[1]!.duration_ms, 250);
  t.same(
    a.files.map((f) => f.path),
    ['/src/out.o', '/src/t', '/dev/shm/sem.x'],
    'devices and /proc are not files written',
  );
  t.same(
    a.alerts.map((x) => [x.rule, x.severity, x.pid]),
    [['sensitive_file', 'critical', 101]],
  );
  t.same(
    a.hosts.map((h) => h.host),
    ['127.0.0.1:443', '[::1]:8443'],
    'refused connections and unix sockets are not hosts contacted',
  );
  const s = r.summary();
  t.equal(s.files_written, 3);
  t.equal(s.lost_records, 2);
  const text = formatAudit(r);
  t.match(text, /sh -c make/);
  t.match(text, /\/src\/t -> \/src\/u/);
  t.match(text, /Alerts \(1\)[\s\S]*critical +sensitive_file +101 +read ~\/\.ssh\/id_rsa/);
  t.notMatch(text, /\/dev\/null/);
});

t.test('prompts: the last user message in each provider shape, without injected context', async (t) => {
  const r = new Report();
  r.add(
    call(
      'anthropic.messages',
      'claude-sonnet-4',
      {},
      {
        request: {
          stream: true,
          system: [{ type: 'text', text: 'be brief' }],
          messages: [
            { role: 'user', content: 'first' },
            { role: 'assistant', content: 'x' },
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: 't', content: 'out' },
                { type: 'text', text: 'and then?' },
                { type: 'text', text: '<system-reminder>\nThe date is today.\n</system-reminder>' },
              ],
            },
          ],
        },
      },
    ),
  );
  r.add(
    call(
      'gemini',
      'gemini-2.5-flash',
      {},
      { request: { stream: false, messages: [{ role: 'user', parts: [{ text: 'hola' }] }] } },
    ),
  );
  r.add(
    call(
      'openai.chat',
      'gpt-4o',
      {},
      {
        request: {
          stream: false,
          messages: [
            { role: 'system', content: 'sys' },
            { role: 'user', content: 'plain string' },
          ],
        },
      },
    ),
  );
  const p = r.prompts();
  t.equal(p[0]!.system, 'be brief');
  t.equal(p[0]!.prompt, 'and then?', "Claude Code's <system-reminder> is not what the user typed");
  t.equal(p[1]!.prompt, 'hola');
  t.equal(p[2]!.prompt, 'plain string');
  t.match(formatPrompts(r), /── .* gpt-4o/);
});

t.test('table aligns numbers right and text left', async (t) => {
  t.equal(
    table(
      ['name', 'n'],
      [
        ['a', 1],
        ['long', 100],
      ],
    ),
    'name    n\na       1\nlong  100',
  );
  t.equal(
    table(
      ['day', 'cost'],
      [
        ['2026-11-26', '$0.0011'],
        ['2026-11-27', '-'],
      ],
    ),
    'day            cost\n2026-11-26  $0.0011\n2026-11-27        -',
    'dates left, amounts right',
  );
  const lines = summaryLines(new Report().summary());
  t.match(lines[0]!, /^llm calls {3}0/);
  t.match(lines[4]!, /lost +nothing/);
});
