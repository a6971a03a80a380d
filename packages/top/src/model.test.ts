import fs from 'node:fs';
import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { displayName, TopModel } from './model.js';

// A real capture (`agentsight exec --no-stdio` of test/agents/sdk-agent.js against the mock
// LLM): three calls of claude-haiku-4-5 (in 1200+1500, out 40+30, the third a 529), a bash
// tool call (sh writing out.txt, running ls) and a write_file tool call (NOTES.md); the
// agent then died of the 529 (exit 1). `agentsight report audit` of it: 3 processes, 2 files
// written, 1 host.
const FIXTURE = new URL('../fixtures/sdk-agent-run.ndjson', import.meta.url);
const recorded = (): AgentEvent[] =>
  fs
    .readFileSync(FIXTURE, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AgentEvent);

const AGENT = 27859;
const SRC = { kind: 'live', comm: null } as const;

t.test('a recorded agent run: the agent, its processes, files, network and model', async (t) => {
  const events = recorded();
  const m = new TopModel();
  for (const ev of events) m.add(ev);
  const s = m.snapshot(m.lastTs, SRC, events[0]!.ts);

  t.equal(s.agents.length, 1, 'one agent');
  const a = s.agents[0]!;
  t.match(a, {
    pid: AGENT,
    name: 'sdk-agent.js',
    model: 'claude-haiku-4-5',
    models: ['claude-haiku-4-5'],
    calls: 3,
    tool_calls: 2,
    errors: 1,
    input_tokens: 2700,
    output_tokens: 70,
    processes: 3,
    live_processes: 0,
    state: 'exited',
    net: 1,
  });
  t.ok(a.cost_usd! > 0.0025 && a.cost_usd! < 0.0035, `priced from list prices: ${a.cost_usd}`);
  t.match(a.cmd, /sdk-agent\.js --base-url https:\/\/127\.0\.0\.1:35993 do it$/);
  t.same(a.cpu_pct, null, 'nothing running: no CPU');

  t.same(
    s.processes.map((p) => [p.pid, p.ppid, p.agent, p.name, p.state, p.exit_code, p.calls]).sort(),
    [
      [27859, 27811, AGENT, 'sdk-agent.js', 'exited', 1, 3],
      [27918, 27859, AGENT, 'sh', 'exited', 0, 0],
      [27919, 27918, AGENT, 'ls', 'exited', 0, 0],
    ],
    'the agent and the processes its tool ran',
  );

  const written = s.files.filter((f) => f.writes > 0).map((f) => [f.path, f.pids]);
  t.same(
    written.sort(),
    [
      ['/tmp/top-rec/NOTES.md', [AGENT]],
      ['/tmp/top-rec/out.txt', [27918]],
    ],
    'the files written: the one the agent wrote and the one its tool did',
  );
  t.equal(a.files, s.files.length, "the agent's file count is its distinct files");
  t.ok(
    s.files.some((f) => f.failed > 0),
    'failed opens counted (module resolution)',
  );

  t.same(
    s.network.map((n) => [n.endpoint, n.host, n.agent, n.connects, n.calls, n.failed]),
    [['127.0.0.1:35993', '127.0.0.1', AGENT, 2, 3, 0]],
    'one endpoint, its calls joined by host; a connect in progress is no failure',
  );
  t.match(s.models, [
    {
      model: 'claude-haiku-4-5',
      provider: 'anthropic',
      calls: 3,
      errors: 1,
      input_tokens: 2700,
      output_tokens: 70,
      agents: 1,
    },
  ]);
  t.match(s.totals, { agents: 1, processes: 3, calls: 3, tool_calls: 2, errors: 1, lost: 0 });
});

t.test('the agent shows from its first call; processes of no agent are not shown', async (t) => {
  const events = recorded();
  const m = new TopModel();
  const firstCall = events.findIndex((e) => e.src === 'llm' && e.type === 'call');
  for (const ev of events.slice(0, firstCall)) m.add(ev);
  t.same(m.snapshot(m.lastTs, SRC, 0).agents, [], 'before its first call: nothing');
  t.same(m.livePids(), [], 'nothing to sample');
  m.add(events[firstCall]!);
  const s = m.snapshot(m.lastTs, SRC, 0);
  t.match(s.agents, [{ pid: AGENT, calls: 1, state: 'running', input_tokens: 1200 }]);
  t.same(m.livePids(), [AGENT], 'its process is sampled from now on');
});

const base = { v: 1 as const, tid: 0 };
const proc = (ts: number, type: string, e: Record<string, unknown>) =>
  ({ ...base, ts, src: 'proc', type, ...e }) as AgentEvent;
const call = (ts: number, pid: number, e: Record<string, unknown> = {}) =>
  ({
    ...base,
    ts,
    src: 'llm',
    type: 'call',
    pid,
    comm: 'x',
    id: `c${ts}`,
    provider: 'openai',
    api: 'openai.chat',
    model: 'gpt-4o-mini',
    request: { stream: false },
    response: { text: '', thinking: null, tool_calls: [], finish_reason: 'stop' },
    usage: { prompt_tokens: 100, completion_tokens: 10 },
    status: 200,
    timing: { start: ts - 10, duration_ms: 0.01 },
    conn: 'c',
    req: 'r',
    ...e,
  }) as unknown as AgentEvent;

t.test('sub-agents roll up into the topmost agent; tools of no agent are forgotten at exit', async (t) => {
  const m = new TopModel();
  m.add(proc(1, 'exec', { pid: 10, ppid: 1, comm: 'python3', argv: ['python3', '-m', 'myagent'], filename: '/x' }));
  m.add(proc(2, 'fork', { pid: 11, ppid: 10, comm: 'python3' }));
  m.add(proc(3, 'exec', { pid: 11, ppid: 10, comm: 'node', argv: ['node', '/a/sub.js'], filename: '/x' }));
  m.add(proc(4, 'exec', { pid: 20, ppid: 1, comm: 'make', argv: ['make'], filename: '/x' }));
  m.add(proc(5, 'open', { pid: 20, path: '/src/a.c', flags: 0, ret: 3 }));
  m.add(call(6, 11));
  let s = m.snapshot(10, SRC, 0);
  t.same(
    s.agents.map((a) => [a.pid, a.name, a.calls]),
    [[11, 'sub.js', 1]],
    'the child that calls is the agent while its parent has not called',
  );
  m.add(call(7, 10, { model: 'gpt-4o' }));
  s = m.snapshot(10, SRC, 0);
  t.same(
    s.agents.map((a) => [a.pid, a.name, a.calls, a.processes, a.model]),
    [[10, 'myagent', 2, 2, 'gpt-4o']],
    'once the parent calls, it is the agent and the sub-agent one of its processes',
  );
  t.same(s.models.map((x) => [x.model, x.calls, x.agents]).sort(), [
    ['gpt-4o', 1, 1],
    ['gpt-4o-mini', 1, 1],
  ]);
  t.notOk(
    s.processes.some((p) => p.pid === 20),
    'make is no agent',
  );
  m.add(proc(8, 'exit', { pid: 20, exit_code: 0 }));
  m.add(proc(9, 'exit', { pid: 11, exit_code: 0 }));
  s = m.snapshot(10, SRC, 0);
  t.same(
    s.processes.map((p) => [p.pid, p.state]).sort(),
    [
      [10, 'running'],
      [11, 'exited'],
    ],
    "an agent's exited process stays for its totals",
  );
  t.equal(s.agents[0]!.live_processes, 1);
});

t.test('a streaming call under way: the agent shows before the call ends', async (t) => {
  const m = new TopModel();
  m.add(proc(1, 'exec', { pid: 10, ppid: 1, comm: 'claude', argv: ['claude'], filename: '/x' }));
  m.add({
    ...base,
    ts: 2,
    src: 'llm',
    type: 'delta',
    pid: 10,
    comm: 'claude',
    id: 'c',
    kind: 'text',
    text: 'He',
    conn: 'x',
  } as AgentEvent);
  t.match(m.snapshot(3, SRC, 0).agents, [{ pid: 10, calls: 0, state: 'running', last_ts: 2 }]);
  m.add(call(4, 10));
  t.match(m.snapshot(5, SRC, 0).agents, [{ pid: 10, calls: 1 }]);
});

t.test('CPU and memory: samples, metrics events, and processes found gone', async (t) => {
  const m = new TopModel();
  m.add(proc(1, 'snapshot', { pid: 10, ppid: 1, comm: 'claude', argv: ['claude'], start_ts: 0 }));
  m.add(proc(2, 'fork', { pid: 11, ppid: 10, comm: 'claude' }));
  m.add(call(3, 10, { model: null }));
  t.same(m.livePids().sort(), [10, 11]);
  m.add(proc(4, 'metrics', { pid: 11, cpu_pct: 50, rss_kb: 1000, threads: 1 }));
  m.sampled([10, 11], [{ pid: 10, cpu_pct: 12.5, rss_kb: 200_000 }], 5);
  let s = m.snapshot(5, SRC, 0);
  t.match(s.agents, [
    { pid: 10, name: 'claude', cpu_pct: 12.5, rss_kb: 200_000, live_processes: 1, processes: 2, model: null },
  ]);
  t.match(
    s.processes.find((p) => p.pid === 11),
    { state: 'exited', cpu_pct: null, exit_code: null },
    'a pid /proc no longer has is gone',
  );
  t.same(s.models[0]!.model, '(unknown)');
  m.add(proc(6, 'fork', { pid: 11, ppid: 10, comm: 'claude' }));
  m.add(proc(7, 'metrics', { pid: 11, cpu_pct: 50, rss_kb: 1000, threads: 1 }));
  s = m.snapshot(8, SRC, 0);
  t.match(s.agents[0], { cpu_pct: 62.5, rss_kb: 201_000, live_processes: 2 }, 'pid reused: a new process');
});

t.test('files and network of an agent: writes, renames, failures, sockets joined to calls', async (t) => {
  const m = new TopModel();
  m.add(proc(1, 'exec', { pid: 10, ppid: 1, comm: 'gemini', argv: ['gemini'], filename: '/x' }));
  m.add(proc(2, 'connect', { pid: 10, family: 'inet6', addr: '2001:db8::1', port: 443, ret: 0, fd: 7 }));
  m.add(proc(3, 'connect', { pid: 10, family: 'inet', addr: '10.0.0.1', port: 443, ret: -111, fd: 8 }));
  m.add(proc(4, 'connect', { pid: 10, family: 'unix', addr: '/run/x.sock', ret: 0, fd: 9 }));
  m.add(call(5, 10, { fd: 7, host: 'generativelanguage.googleapis.com', provider: 'google' }));
  m.add(proc(6, 'open', { pid: 10, path: '/w/a.txt', flags: 0o1101, ret: 3 }));
  m.add(proc(7, 'open', { pid: 10, path: '/w/a.txt', flags: 0, ret: 3, count: 4 }));
  m.add(proc(8, 'open', { pid: 10, path: '/w/nope', flags: 0, ret: -2 }));
  m.add(proc(9, 'rename', { pid: 10, path: '/w/a.txt', to: '/w/b.txt', ret: 0 }));
  m.add(proc(10, 'unlink', { pid: 10, path: '/w/b.txt', ret: 0 }));
  m.add({ ...base, ts: 11, src: 'ssl', type: 'lost', records: 3, bytes: 100 } as AgentEvent);
  m.add({
    ...base,
    ts: 12,
    src: 'meta',
    type: 'stats',
    cpu_pct: 0.4,
    rss_kb: 90_000,
    lost_records: 3,
    store_bytes: 1 << 20,
  } as AgentEvent);
  const s = m.snapshot(20, SRC, 0);
  t.same(
    s.files.map((f) => [f.path, f.opens, f.writes, f.failed]).sort(),
    [
      ['/w/a.txt -> /w/b.txt', 0, 1, 0],
      ['/w/a.txt', 6, 1, 0],
      ['/w/b.txt', 0, 1, 0],
      ['/w/nope', 1, 0, 1],
    ],
    'folded opens count each; writes, renames, removals; failures',
  );
  t.same(
    s.network.map((n) => [n.endpoint, n.host, n.connects, n.calls, n.failed]).sort(),
    [
      ['/run/x.sock', null, 1, 0, 0],
      ['10.0.0.1:443', null, 1, 0, 1],
      ['[2001:db8::1]:443', 'generativelanguage.googleapis.com', 1, 1, 0],
    ],
    'the call went over the socket it names',
  );
  t.match(s.agents[0], { files: 4, net: 3 });
  t.same(s.monitor, { ts: 12, cpu_pct: 0.4, rss_kb: 90_000, lost: 3, store_bytes: 1 << 20 }, "the monitor's stats");
  t.equal(s.totals.lost, 3, 'loss reports summed');
});

t.test('what a process is called', async (t) => {
  t.equal(displayName('node', ['node', '--max-old-space-size=4096', '/usr/lib/gemini/index.js']), 'index.js');
  t.equal(displayName('python3', ['python3', '-m', 'aider']), 'aider');
  t.equal(displayName('python3', ['python3', '-c', 'print(1)']), 'python3');
  t.equal(displayName('claude', ['claude', '-p', 'hi']), 'claude');
  t.equal(
    displayName('MainThread', ['/usr/bin/python3', 'agent.py']),
    'agent.py',
    'argv[0] when comm is a thread name',
  );
  t.equal(displayName('bash', []), 'bash');
});

t.test('details are capped: small for a process of no agent, larger once it is one', async (t) => {
  const m = new TopModel();
  m.add(proc(1, 'exec', { pid: 10, ppid: 1, comm: 'make', argv: ['make'], filename: '/x' }));
  for (let i = 0; i < 1000; i++) m.add(proc(2 + i, 'open', { pid: 10, path: `/a${i}`, flags: 0, ret: 3 }));
  m.add(call(2000, 10));
  let s = m.snapshot(3000, SRC, 0);
  t.ok(s.agents[0]!.files <= 80, `before its first call: at most 80 files kept (${s.agents[0]!.files})`);
  t.ok(
    s.files.some((f) => f.path === '/a999'),
    'the most recent ones',
  );
  for (let i = 0; i < 3000; i++) m.add(proc(3000 + i, 'open', { pid: 10, path: `/b${i}`, flags: 0, ret: 3 }));
  s = m.snapshot(7000, SRC, 0);
  const n = s.agents[0]!.files;
  t.ok(n >= 2000 && n <= 2500, `an agent keeps about 2000 (${n})`);
  t.ok(
    s.files.some((f) => f.path === '/b2999'),
    'the most recent ones',
  );
});
