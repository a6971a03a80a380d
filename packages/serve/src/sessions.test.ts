import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent, LlmCallEvent } from '@agentsight/events';
import { callCost } from '@agentsight/llm';
import { testing } from '@agentsight/trace';
import t from 'tap';
import { mockSession } from './mock.js';
import { BadRequest } from './params.js';
import { Queries } from './query.js';
import { bucketFor, ftsQuery, SessionQueries } from './sessions.js';
import { Store } from './store.js';

const { subagentStream, subagentStreamWithHelpers, T0 } = testing;

/** A store with the Claude Code sub-agent session and a mock SDK agent's session (no conversation id). */
function fixture(prices?: ConstructorParameters<typeof Store>[1]) {
  const store = new Store(':memory:', prices);
  const sub = subagentStream();
  const mock = mockSession({ start: T0 + 60_000_000 });
  for (const e of [...sub.events, ...mock.events]) store.insert(e as AgentEvent);
  store.commit();
  const sq = new SessionQueries(new Queries(store));
  const sp = (s = '') => new URLSearchParams(s);
  return { store, sq, sp, sub, mock };
}

t.test('sessions: one per conversation, newest first, sub-agents with their parent', async (t) => {
  const { store, sq, sp, sub, mock } = fixture();
  t.teardown(() => store.close());
  const page = sq.list(sp());
  t.equal(page.total, 3, "Claude's session, its sub-agent and the mock agent's process tree");
  t.same(
    page.sessions.map((s) => s.id),
    [`pid:${mock.facts.agentPid}@${page.sessions[0]!.start}`, sub.facts.subSession, sub.facts.session],
    'newest first',
  );
  const parent = page.sessions.find((s) => s.id === sub.facts.session)!;
  const child = page.sessions.find((s) => s.id === sub.facts.subSession)!;
  t.equal(parent.title, sub.facts.prompt, "titled by the user's own words");
  t.equal(parent.agent, 'claude');
  t.equal(parent.host, 'host1');
  t.equal(parent.run, sub.facts.run);
  t.equal(parent.calls, 3);
  t.equal(parent.toolCalls, 2);
  t.equal(parent.errors, 1, 'the failing sed the agent ran');
  t.equal(parent.alerts, 1);
  t.same(parent.models, ['claude-sonnet-4-5-20250929']);
  t.same(parent.children, [sub.facts.subSession]);
  t.equal(parent.tokensIn, 1000 + 1200 + 1300);
  t.same(child.parent, { session: sub.facts.session, toolCall: sub.facts.taskId });
  t.equal(child.calls, 2);
  t.equal(child.title, sub.facts.taskPrompt);
  const calls = sub.events.filter((e) => e.src === 'llm') as LlmCallEvent[];
  const want = calls.filter((c) => sub.facts.parentCalls.includes(c.id)).reduce((a, c) => a + callCost(c)!, 0);
  t.equal(Math.round(parent.cost! * 1e9), Math.round(want * 1e9), 'cost: the sum of its calls, by callCost');
});

t.test('sessions: filters narrow as they say', async (t) => {
  const { store, sq, sp, sub, mock } = fixture();
  t.teardown(() => store.close());
  const ids = (q: string) => sq.list(sp(q)).sessions.map((s) => s.id);
  const mockId = ids('agent=node')[0]!;
  t.match(mockId, new RegExp(`^pid:${mock.facts.agentPid}@`), 'the mock agent: its process tree');
  t.same(ids('agent=claude').sort(), [sub.facts.session, sub.facts.subSession].sort());
  t.same(ids('agent=nope'), []);
  t.same(ids('model=claude-sonnet-4-20250514'), [mockId]);
  t.equal(ids('provider=anthropic').length, 3);
  t.same(ids('tool=Task'), [sub.facts.session], 'only the session that called Task');
  t.same(ids('host=host1').sort(), [sub.facts.session, sub.facts.subSession].sort(), "the run's host");
  t.same(ids('status=error').sort(), [sub.facts.session, mockId].sort(), 'sessions with a failed tool');
  t.same(ids('status=ok'), [sub.facts.subSession]);
  t.same(ids('alerts=1'), [sub.facts.session]);
  t.same(ids(`to=${T0 + 5}`), [], 'nothing before the first call');
  t.same(ids(`from=${T0 + 60_000_000}`).length, 1, 'only the later session');
  t.throws(() => sq.list(sp('status=maybe')), BadRequest);
  t.throws(() => sq.list(sp('color=red')), BadRequest);
});

t.test('sessions: full-text search over prompts, responses, tool arguments, commands and paths', async (t) => {
  const { store, sq, sp, sub, mock } = fixture();
  t.teardown(() => store.close());
  const ids = (q: string) => sq.list(sp(`q=${encodeURIComponent(q)}`)).sessions.map((s) => s.id);
  t.same(ids('TODO markers'), [sub.facts.session], 'a prompt');
  t.same(ids(sub.facts.subWord), [sub.facts.subSession], "a word of the sub-agent's answer");
  t.same(ids('DONE'), [sub.facts.session], 'a tool argument');
  t.match(ids('pytest'), [new RegExp(`^pid:${mock.facts.agentPid}@`)], 'a command');
  t.same(ids('main.ts').includes(sub.facts.subSession), true, 'a path the sub-agent’s grep opened');
  t.same(ids('nosuchwordanywhere'), []);
  const hit = sq.list(sp('q=zanzibar')).sessions[0]!;
  t.match(
    hit.snippet,
    new RegExp(`${String.fromCharCode(2)}zanzibar${String.fromCharCode(3)}`),
    'the match marked in the snippet',
  );
  t.same(ids('"TODO" AND markers'), [sub.facts.session], 'FTS5 syntax passes through');
  t.throws(() => sq.list(sp('q=' + encodeURIComponent('"unbalanced'))), BadRequest, 'a bad query is a 400');
  t.equal(ftsQuery('a-b c.d'), '"a-b" "c.d"');
});

t.test('sessions: cursor pagination visits each session once', async (t) => {
  const store = new Store(':memory:');
  t.teardown(() => store.close());
  for (let i = 0; i < 7; i++)
    for (const e of mockSession({ start: T0 + i * 10_000_000, agentPid: 1000 + i * 10 }).events) store.insert(e);
  store.commit();
  const sq = new SessionQueries(new Queries(store));
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const p = sq.list(new URLSearchParams(`limit=3${cursor ? `&cursor=${cursor}` : ''}`));
    seen.push(...p.sessions.map((s) => s.id));
    cursor = p.next;
    pages++;
  } while (cursor && pages < 10);
  t.equal(pages, 3);
  t.equal(seen.length, 7);
  t.equal(new Set(seen).size, 7);
});

t.test('session detail: its calls, processes and sub-agents, nothing else', async (t) => {
  const { store, sq, sp, sub } = fixture();
  t.teardown(() => store.close());
  const d = sq.detail(sub.facts.session, sp())!;
  t.same(
    (d.calls as Array<{ id: string }>).map((c) => c.id),
    sub.facts.parentCalls,
    "the parent's calls only",
  );
  t.equal(d.run?.id, sub.facts.run);
  t.equal(d.run?.host, 'host1');
  t.ok(d.run?.end, 'the run ended by its stop');
  t.same(
    d.children.map((c) => [c.id, c.parent?.toolCall]),
    [[sub.facts.subSession, sub.facts.taskId]],
    'the sub-agent, under the Task call',
  );
  const pids = (d.processes as Array<{ pid: number }>).map((p) => p.pid).sort();
  t.same(pids, [sub.facts.agentPid, sub.facts.sedPid].sort(), 'the agent and its own tool, not the sub-agent’s');
  const sed = (d.calls as Array<{ id: string; tools: Array<{ processes: Array<{ pid: number }> }> }>).find(
    (c) => c.id === 'p2',
  )!;
  t.same(
    sed.tools[0]!.processes.map((p) => p.pid),
    [sub.facts.sedPid],
    'each call with the processes its tools ran',
  );
  const child = sq.detail(sub.facts.subSession, sp())!;
  t.same(
    (child.calls as Array<{ id: string }>).map((c) => c.id),
    sub.facts.subCalls,
  );
  t.same(
    (child.processes as Array<{ pid: number }>).map((p) => p.pid),
    [sub.facts.agentPid, sub.facts.grepPid],
  );
  t.equal(sq.detail('nope', sp()), undefined);
});

t.test('timeline and calls scoped to a session', async (t) => {
  const { store, sp, sub } = fixture();
  t.teardown(() => store.close());
  const q = new Queries(store);
  const tl = q.timeline(sp(`session=${encodeURIComponent(sub.facts.subSession)}`));
  t.same(
    (tl.calls as Array<{ id: string }>).map((c) => c.id),
    sub.facts.subCalls,
  );
  t.ok((tl.from as number) >= T0, 'over the session’s time');
  const calls = q.calls(sp(`session=${encodeURIComponent(sub.facts.session)}`)).calls as Array<{ id: string }>;
  t.same(
    calls.map((c) => c.id),
    sub.facts.parentCalls,
  );
  t.throws(() => q.timeline(sp('session=nope')), BadRequest);
});

t.test('overview: tokens and cost by model, agent and day; series; tools; slowest; alerts', async (t) => {
  const { store, sq, sp, sub } = fixture();
  t.teardown(() => store.close());
  const o = sq.overview(sp());
  const all = store.db.prepare('SELECT count(*) n, sum(cost_usd) c FROM calls').get() as { n: number; c: number };
  t.equal(
    o.byModel.reduce((a, m) => a + m.calls, 0),
    all.n,
    'every call in by-model',
  );
  t.equal(
    Math.round(o.byAgent.reduce((a, m) => a + (m.cost ?? 0), 0) * 1e9),
    Math.round(all.c * 1e9),
    'costs add up by agent',
  );
  t.same(o.byAgent.map((a) => a.agent).sort(), ['claude', 'node']);
  t.equal(o.byDay.length, 1);
  t.equal(
    o.series.reduce((a, s) => a + s.calls, 0),
    all.n,
    'the series counts every call',
  );
  t.ok(o.bucket >= 1e6, 'a round bucket');
  t.equal(o.topTools.find((x) => x.tool === 'Bash')?.errors, 1, "sed's result came back as an error");
  t.equal(o.topTools.find((x) => x.tool === 'Task')?.errors, 0);
  t.equal(o.topTools.find((x) => x.tool === 'Bash')?.calls, 2, 'Bash: grep in the sub-agent, sed in the parent');
  t.ok(
    o.slowest.length > 0 && o.slowest[0]!.durationUs >= o.slowest[o.slowest.length - 1]!.durationUs,
    'slowest first',
  );
  t.same(
    o.alerts.map((a) => [a.rule, a.session]),
    [['sensitive_file', sub.facts.session]],
  );
  const claude = sq.overview(sp('agent=claude'));
  t.same(
    claude.byAgent.map((a) => a.agent),
    ['claude'],
    'filtered like the sessions page',
  );
  t.equal(bucketFor(60e6), 1e6);
  t.equal(bucketFor(86400e6 * 60), 86400e6);
});

t.test('runs', async (t) => {
  const { store, sq, sp, sub } = fixture();
  t.teardown(() => store.close());
  const r = sq.runs(sp());
  t.equal(r.runs.length, 1);
  t.match(r.runs[0], { id: sub.facts.run, host: 'host1', command: /claude -p/, start: T0 });
  t.equal(r.runs[0]!.end, T0 + 11_000_000, 'ended by meta/stop');
});

t.test('--prices: the store stores costs at the prices it was given', async (t) => {
  const { store, sq, sp, sub } = fixture({ prices: { 'claude-sonnet-4-5': { input: 1000, output: 0 } } });
  t.teardown(() => store.close());
  const parent = sq.list(sp()).sessions.find((s) => s.id === sub.facts.session)!;
  t.equal(Math.round(parent.cost! * 1000), (1000 + 1200 + 1300) * 1, '$1000 per million input tokens');
});

t.test(
  "a real run's processes: startup probes and tools in the session that caused them; errors are not exit codes",
  async (t) => {
    const store = new Store(':memory:');
    t.teardown(() => store.close());
    const { events, facts: f } = subagentStreamWithHelpers();
    for (const e of events) store.insert(e);
    store.commit();
    const sq = new SessionQueries(new Queries(store));
    const sp = new URLSearchParams();
    const parent = sq.detail(f.session, sp)!;
    const child = sq.detail(f.subSession, sp)!;
    const pids = (d: typeof parent) => [...new Set((d.processes as Array<{ pid: number }>).map((p) => p.pid))].sort();
    t.same(pids(parent), [f.agentPid, ...f.probePids, f.sedPid, f.lsPid].sort(), "the tree, but the sub-agent's tools");
    t.same(pids(child), [f.agentPid, f.grepPid], "the agent and the sub-agent's grep, not the parent's ls");
    const sessionOf = (pid: number) =>
      (store.db.prepare('SELECT session FROM processes WHERE pid = ?').get(pid) as { session: string | null }).session;
    for (const pid of f.probePids) t.equal(sessionOf(pid), f.session, `probe ${pid}: filed under the agent's session`);
    t.equal(sessionOf(f.lsPid), f.session, 'ls: moved by its link');
    t.equal(sessionOf(f.grepPid), f.subSession);
    t.equal(parent.session.errors, 1, "sed's failed result; not the probes' or sed's exit codes");
    t.equal(child.session.errors, 0);
    const ids = (q: string) => sq.list(new URLSearchParams(q)).sessions.map((s) => s.id);
    t.same(ids('q=rev-parse'), [f.session], "a probe's command is searchable in its session");
    t.same(ids('q=ls%20src'), [f.session], "ls's command moved with it");
    t.same(ids('status=error'), [f.session]);
    t.same(ids('status=ok'), [f.subSession]);
  },
);

t.test('search rows batched between timer commits still reach the index, and a moved one leaves cleanly', async (t) => {
  const store = new Store(':memory:', { commitMs: 5 });
  t.teardown(() => store.close());
  const sq = new SessionQueries(new Queries(store));
  const ids = (q: string) => sq.list(new URLSearchParams(`q=${encodeURIComponent(q)}`)).sessions.map((s) => s.id);
  const { events, facts: f } = subagentStreamWithHelpers();
  const half = events.findIndex((e) => e.src === 'llm' && (e as LlmCallEvent).id === 's2');
  for (const e of events.slice(0, half)) store.insert(e);
  await new Promise((r) => setTimeout(r, 30)); // timer commits only
  for (const e of events.slice(half)) store.insert(e);
  await new Promise((r) => setTimeout(r, 1300)); // the quiet flush
  t.same(ids('rev-parse'), [f.session], 'a probe, indexed without an explicit commit');
  t.same(ids('ls src'), [f.session], 'ls: in the parent only, though first filed under the sub-agent');
  t.same(ids(f.subWord), [f.subSession]);
  t.same(
    (store.db.prepare("SELECT count(*) n FROM search WHERE search MATCH 'rev'").get() as { n: number }).n,
    1,
    'each row indexed once',
  );
  store.db.exec("INSERT INTO search(search) VALUES ('integrity-check')");
  t.pass('the FTS5 index agrees with its content table');
});

t.test('a store reopened mid-capture puts the next calls in the sessions they continue', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-sess-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 's.db');
  // A process-tree session (no conversation id) and Claude's sub-agent session, both cut
  // after their second call: the second half arrives after a restart (as-serve, the monitor).
  const mock = mockSession({ start: T0 });
  const sub = subagentStream();
  const cut = (evs: AgentEvent[]) => {
    const calls = evs.map((e, i) => (e.src === 'llm' && e.type === 'call' ? i : -1)).filter((i) => i >= 0);
    return calls[1]! + 1;
  };
  const halves = [mock.events, sub.events as AgentEvent[]].map((evs) => [evs.slice(0, cut(evs)), evs.slice(cut(evs))]);
  let store = new Store(db);
  for (const [a] of halves) for (const e of a!) store.insert(e);
  store.close();
  store = new Store(db);
  t.teardown(() => store.close());
  for (const [, b] of halves) for (const e of b!) store.insert(e);
  store.commit();
  const sq = new SessionQueries(new Queries(store));
  const page = sq.list(new URLSearchParams());
  const calls = mock.events.filter((e) => e.src === 'llm' && e.type === 'call').length;
  const tree = page.sessions.filter((s) => s.id.startsWith(`pid:${mock.facts.agentPid}@`));
  t.equal(tree.length, 1, 'one process-tree session, not one per restart');
  t.equal(tree[0]?.calls, calls, `all ${calls} of its calls`);
  t.equal(page.total, 3, "and Claude's session and its sub-agent, as without the restart");
  const parent = page.sessions.find((s) => s.id === sub.facts.session);
  t.equal(parent?.calls, 3);
  t.same(parent?.children, [sub.facts.subSession]);
});
