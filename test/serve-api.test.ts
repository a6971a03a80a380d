// The as-serve JSON API over a mock agent session: pagination, filters, the call and
// process views, the live feed, and 400s with a message for bad parameters.

import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { getJson, startFixture } from './serve-fixture.js';

const fx = await startFixture();
t.teardown(() => fx.close());
const f = fx.session.facts;
const api = (p: string) => getJson(`${fx.base}/api/${p}`);

t.test('events: cursor pagination visits every event once, in time order', async (t) => {
  const seen: Array<{ _id: number; ts: number }> = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const r: Awaited<ReturnType<typeof api>> = await api(`events?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
    t.equal(r.status, 200);
    t.ok(r.body.events.length <= 7, 'page size respected');
    seen.push(...r.body.events);
    cursor = r.body.next;
    pages++;
  } while (cursor && pages < 100);
  t.equal(seen.length, fx.session.events.length, 'all events');
  t.equal(new Set(seen.map((e) => e._id)).size, seen.length, 'no event twice');
  for (let i = 1; i < seen.length; i++) {
    const a = seen[i - 1]!,
      b = seen[i]!;
    if (a.ts > b.ts || (a.ts === b.ts && a._id > b._id)) {
      t.fail(`out of order at ${i}`);
      break;
    }
  }
  t.equal(pages, Math.ceil(fx.session.events.length / 7), 'pages');
  const desc = await api('events?order=desc&limit=3');
  t.same(
    desc.body.events.map((e: { _id: number }) => e._id),
    seen
      .slice(-3)
      .reverse()
      .map((e) => e._id),
    'order=desc starts at the newest',
  );
});

t.test('events: filters', async (t) => {
  const proc = await api('events?src=proc&limit=1000');
  const want = fx.session.events.filter((e) => e.src === 'proc').length;
  t.equal(proc.body.events.length, want, 'src=proc: every proc event');
  t.ok(
    proc.body.events.every((e: AgentEvent) => e.src === 'proc'),
    'and nothing else',
  );
  const two = await api('events?src=llm,http&limit=1000');
  t.equal(
    two.body.events.length,
    fx.session.events.filter((e) => e.src === 'llm' || e.src === 'http').length,
    'a list of sources',
  );
  const exec = await api('events?type=proc/exec');
  t.equal(exec.body.events.length, 4, 'src/type pair');
  t.ok(exec.body.events.every((e: AgentEvent) => e.type === 'exec'));
  const bare = await api('events?type=exit,exec');
  t.equal(bare.body.events.length, 8, 'bare types, several');
  const pid = await api(`events?pid=${f.failingPid + 1}`);
  t.ok(pid.body.events.length >= 4 && pid.body.events.every((e: AgentEvent) => e.pid === f.failingPid + 1), 'pid');
  const q = await api('events?q=pytest&limit=1000');
  t.ok(q.body.events.length >= 3, 'text search finds the command in exec, llm and http events');
  t.ok(
    q.body.events.every((e: AgentEvent) => JSON.stringify(e).includes('pytest')),
    'every hit contains the text',
  );
  const lit = await api(`events?q=${encodeURIComponent('100%_')}`);
  t.equal(lit.body.events.length, 0, 'LIKE wildcards in the search text are literal');
  const mid = fx.session.events[20]!.ts;
  const range = await api(`events?from=${mid}&to=${mid + 100_000}&limit=1000`);
  t.ok(
    range.body.events.length > 0 && range.body.events.every((e: AgentEvent) => e.ts >= mid && e.ts <= mid + 100_000),
    'time range (µs)',
  );
  const iso = await api(`events?from=${encodeURIComponent(new Date(mid / 1000).toISOString())}&limit=1000`);
  t.ok(
    iso.body.events.length > 0 && iso.body.events.every((e: AgentEvent) => e.ts >= Math.floor(mid / 1000) * 1000),
    'time range (ISO 8601)',
  );
  const after = await api(`events?after_id=${fx.session.events.length - 2}`);
  t.equal(after.body.events.length, 2, 'after_id: what arrived since');
});

t.test('events: one in full; 404', async (t) => {
  const one = await api('events/1');
  t.equal(one.status, 200);
  t.equal(one.body.type, 'start');
  t.equal((await api('events/999999')).status, 404);
});

t.test('calls, sessions, processes, timeline, metrics', async (t) => {
  const calls = await api('calls');
  t.equal(calls.body.calls.length, 3, 'three calls');
  t.same(
    calls.body.calls.map((c: { id: string }) => c.id),
    f.callIds,
    'in order',
  );
  t.equal(calls.body.calls[0].ttft_ms, 420, 'TTFT');
  t.ok(calls.body.calls[0].cost_usd > 0, 'a cost estimate for a known model');
  const paged = await api('calls?limit=2');
  t.equal(paged.body.calls.length, 2);
  const rest = await api(`calls?limit=2&cursor=${paged.body.next}`);
  t.same(
    rest.body.calls.map((c: { id: string }) => c.id),
    [f.callIds[2]],
    'call pagination',
  );
  const d = await api(`calls/${encodeURIComponent(f.callIds[0]!)}`);
  t.equal(d.body.event.request.messages[0].content, f.userPrompt, 'full request');
  t.match(
    d.body.peer,
    { fd: 21, family: 'inet', addr: '127.0.0.1', port: 8443 },
    'the address its socket was connected to',
  );
  t.equal(d.body.tools.length, 1);
  const procs = d.body.tools[0].processes as Array<{ pid: number; argv: string[]; exit_code: number }>;
  t.same(
    procs.map((p) => p.pid).sort(),
    [f.toolPid, f.toolPid + 1],
    'the tool call ran the shell and its child, nothing else',
  );
  t.equal(procs.find((p) => p.pid === f.toolPid + 1)!.exit_code, 0);
  const trimmed = await api(`calls/${encodeURIComponent(f.callIds[2]!)}?full=0`);
  t.equal(trimmed.body.event.request.messages_total, 5, 'full=0: the request had five messages');
  t.equal(trimmed.body.event.request.messages_offset, 4, 'of which four were sent before');
  t.same(
    trimmed.body.event.request.messages.map((m: { role: string }) => m.role),
    ['user'],
    'only the new tool result comes',
  );
  t.same(
    d.body.conversation.messages[0],
    { role: 'user', parts: [{ type: 'text', content: f.userPrompt }] },
    'the conversation comes normalized',
  );
  t.match(
    trimmed.body.conversation,
    { offset: 4, total: 5, messages: [{ role: 'user', parts: [{ type: 'tool_call_response' }] }] },
    'full=0: the normalized conversation is cut the same way',
  );
  const d2 = await api(`calls/${encodeURIComponent(f.callIds[1]!)}`);
  t.same(
    d2.body.tools[0].processes.map((p: { pid: number }) => p.pid).sort(),
    [f.failingPid, f.failingPid + 1],
    'second tool call: its own processes',
  );
  t.equal(d2.body.tools[0].processes[0].exit_code, f.failingExitCode);
  t.equal((await api('calls/nope')).status, 404);

  const s = await api('sessions');
  t.equal(s.body.sessions.length, 1);
  t.equal(s.body.sessions[0].pid, f.agentPid);
  t.equal(s.body.sessions[0].title, f.userPrompt, "its title: the user's prompt");
  t.equal(s.body.total, 1);

  const p = await api('processes');
  t.equal(p.body.processes.length, 5);
  const sub = await api(`processes?root=${f.failingPid}`);
  t.same(
    sub.body.processes.map((x: { pid: number }) => x.pid),
    [f.failingPid, f.failingPid + 1],
    'subtree',
  );
  const py = p.body.processes.find((x: { pid: number }) => x.pid === f.failingPid + 1);
  const detail = await api(`processes/${py.rid}`);
  t.same(
    detail.body.touches
      .map((x: { kind: string; target: string; failed: number }) => [x.kind, x.target, x.failed])
      .sort(),
    [
      ['open', '/home/dev/project/tests/test_parse.py', 0],
      ['open', '/home/dev/project/missing.cfg', 1],
      ['connect', '10.0.0.5:5432', 1],
    ].sort(),
    'what it touched, failures marked',
  );
  t.equal(detail.body.metrics.max_cpu, 55);

  const tl = await api('timeline?buckets=50');
  t.equal(tl.body.calls.length, 3);
  t.equal(tl.body.processes.length, 5);
  t.ok(
    tl.body.activity.some((a: { type: string }) => a.type === 'connect'),
    'network activity bucketed',
  );
  const m = await api('metrics');
  t.equal(m.body.processes.length, 3, 'three sampled processes');
  t.equal(
    m.body.tokens.reduce((n: number, x: number[]) => n + x[1]!, 0),
    812 + 930 + 1011,
    'input tokens over time add up',
  );
});

t.test('sessions, a session, the overview and runs over HTTP', async (t) => {
  const list = await api('sessions?q=pytest');
  t.equal(list.status, 200);
  t.equal(list.body.sessions.length, 1, 'a command finds its session');
  const id = list.body.sessions[0].id as string;
  t.match(list.body.sessions[0].snippet, /pytest/);
  const one = await api(`sessions/${encodeURIComponent(id)}`);
  t.equal(one.status, 200);
  t.same(
    one.body.calls.map((c: { id: string }) => c.id),
    f.callIds,
    'its calls',
  );
  t.ok(
    one.body.processes.some((p: { pid: number }) => p.pid === f.failingPid),
    'its process tree',
  );
  t.equal((await api('sessions/nope')).status, 404);
  const o = await api(`overview?agent=${encodeURIComponent(list.body.sessions[0].agent)}`);
  t.equal(o.status, 200);
  t.equal(o.body.byModel[0].calls, 3);
  t.equal((await api('sessions?agent=nobody')).body.sessions.length, 0);
  const runs = await api('runs');
  t.same(runs.body, { runs: [] }, 'no meta/run in this capture: no runs');
});

t.test('bad parameters: 400 with a message', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['events?bogus=1', /unknown parameter 'bogus'/],
    ['events?limit=0', /limit/],
    ['events?limit=abc', /limit: want an integer/],
    ['events?limit=100000', /limit: want 1\.\.1000/],
    ['events?src=nope', /unknown source 'nope'/],
    ['events?pid=12x', /pid: want an integer/],
    ['events?cursor=zzz', /cursor/],
    ['events?from=20&to=10', /after to/],
    ['events?from=yesterday', /ISO 8601/],
    ['events?order=sideways', /order/],
    ['events?pid=1&pid=2', /given 2 times/],
    ['events?after_id=3&cursor=1.1', /cannot be combined/],
    ['events?type=a%20b', /comma-separated names/],
    ['calls?limit=-1', /limit/],
    ['processes?root=x', /root/],
    ['timeline?buckets=99999', /limit|buckets/],
    ['stats?x=1', /unknown parameter/],
    ['sessions?status=maybe', /status: want 'ok' or 'error'/],
    ['sessions?q=%22open', /q: /],
    ['sessions?from=yesterday', /ISO 8601/],
    ['sessions?limit=9999', /limit/],
    ['overview?colour=red', /unknown parameter 'colour'/],
    ['runs?limit=0', /limit/],
    ['timeline?session=nope', /no session/],
  ];
  for (const [p, re] of bad) {
    const r = await api(p);
    t.equal(r.status, 400, `${p}: 400`);
    t.match(r.body?.error ?? '', re, `${p}: says why`);
  }
  t.equal((await api('nothing-here')).status, 404, 'unknown endpoint: 404');
  const post = await fetch(`${fx.base}/api/events`, { method: 'POST', body: '{}' });
  t.equal(post.status, 405, 'read-only');
});

t.test('live feed: a commit reaches an open SSE client', async (t) => {
  const ac = new AbortController();
  const res = await fetch(`${fx.base}/api/live`, { signal: ac.signal });
  t.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const until = async (re: RegExp, ms: number) => {
    const end = Date.now() + ms;
    while (!re.test(buf)) {
      const left = end - Date.now();
      if (left <= 0) return false;
      const r = await Promise.race([reader.read(), new Promise<null>((ok) => setTimeout(() => ok(null), left))]);
      if (!r || r.done) return re.test(buf);
      buf += dec.decode(r.value);
    }
    return true;
  };
  t.ok(await until(/event: hello/, 2000), 'hello on connect');
  const t0 = Date.now();
  const id = fx.store.insert({ v: 1, ts: f.end + 5, src: 'meta', type: 'stats', tool: 'test' } as AgentEvent);
  // Live, not fast, is what is checked here: the event comes while the stream stays open.
  t.ok(
    await until(new RegExp(`event: commit\\ndata: \\{"last_id":${id}\\}`), 10_000),
    'commit event with the new last id',
  );
  t.comment(`commit event after ${Date.now() - t0} ms (the store commits every 100 ms)`);
  ac.abort();
});

t.test('correlation links (trace/link tool_process) decide which processes a tool call ran', async (t) => {
  fx.store.insert({
    v: 1,
    ts: f.end + 10,
    src: 'trace',
    type: 'link',
    kind: 'tool_process',
    from: 'toolu_01A',
    to: [f.toolPid + 1],
    confidence: 0.93,
    reasons: ['lineage', 'time', 'args'],
  } as AgentEvent);
  fx.store.commit();
  const d = await api(`calls/${encodeURIComponent(f.callIds[0]!)}`);
  const tool = d.body.tools[0];
  t.equal(tool.how, 'link');
  t.equal(tool.confidence, 0.93);
  t.same(tool.reasons, ['lineage', 'time', 'args']);
  t.same(
    tool.processes.map((p: { pid: number }) => p.pid),
    [f.toolPid + 1],
    'exactly the linked process, not the heuristic guess',
  );
});
