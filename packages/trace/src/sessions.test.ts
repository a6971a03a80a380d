import type { AgentEvent, LlmCallEvent } from '@agentsight/events';
import t from 'tap';
import { FilterError, parseFilter, sessionMatches } from './filter.js';
import { agentName, type CallSession, SessionTracker } from './sessions.js';
import { exec, fork, llmCall, subagentStream, subagentStreamWithHelpers, T0 } from './testing.js';

function follow(events: AgentEvent[]): { tracker: SessionTracker; where: Map<string, CallSession> } {
  const tracker = new SessionTracker();
  const where = new Map<string, CallSession>();
  for (const ev of events) {
    const w = tracker.observe(ev);
    if (w) where.set((ev as LlmCallEvent).id, w);
  }
  return { tracker, where };
}

t.test("a Task sub-agent's calls are a session of their own, under the tool call that started it", async (t) => {
  const { events, facts: f } = subagentStream();
  const { tracker, where } = follow(events);
  for (const id of f.parentCalls) {
    t.equal(where.get(id)?.session, f.session, `${id}: the conversation id of metadata.user_id`);
    t.notOk(where.get(id)?.parent, `${id}: no parent`);
  }
  for (const id of f.subCalls) {
    t.equal(where.get(id)?.session, f.subSession, `${id}: the sub-agent's session`);
    t.same(where.get(id)?.parent, { session: f.session, toolCall: f.taskId }, `${id}: under the Task call`);
  }
  t.equal(where.get('p1')?.prompt, f.prompt, "the user's own words, not the injected reminder");
  t.equal(where.get('p1')?.agent, 'claude');
  t.equal(where.get('p1')?.run, f.run, 'the run of the meta/run event');
  t.equal(where.get('p1')?.first, true);
  t.equal(where.get('p2')?.first, false);
  t.equal(where.get('p1')?.pid, f.agentPid);
  t.equal(tracker.run, undefined, 'the run ended with its meta/stop');
  t.equal(tracker.sessionOfPid(f.sedPid), f.session, "the parent's tool works for the parent");
  t.ok(tracker.isAgent(f.agentPid));
});

t.test("an agent's processes: helpers before its first request, tools by the call that asked for them", async (t) => {
  const { events, facts: f } = subagentStreamWithHelpers();
  const tracker = new SessionTracker();
  const where = new Map<string, CallSession>();
  const moves = new Map<number, string[]>();
  for (const ev of events) {
    const w = tracker.observe(ev);
    if (w) where.set((ev as LlmCallEvent).id, w);
    for (const m of tracker.takeMoves()) moves.set(m.pid, [...(moves.get(m.pid) ?? []), m.session]);
    if (ev.src === 'proc' && ev.type === 'exec' && f.probePids.includes(ev.pid!))
      t.equal(tracker.sessionOfPid(ev.pid), undefined, 'a probe before the first request: no session yet');
  }
  for (const pid of f.probePids) {
    t.same(moves.get(pid), [f.session], `probe ${pid}: moved to the session once its agent asked`);
    t.equal(tracker.sessionOfPid(pid), f.session);
  }
  t.same(moves.get(f.agentPid), [f.session], 'the agent itself');
  t.same(moves.get(f.lsPid), [f.session], "ls ran while the sub-agent was busy; its link says it is the parent's");
  t.equal(tracker.sessionOfPid(f.lsPid), f.session);
  t.equal(moves.get(f.grepPid), undefined, "grep already was the sub-agent's");
  t.equal(tracker.sessionOfPid(f.grepPid), f.subSession);
  t.equal(tracker.sessionOfToolCall(f.lsId), f.session);
  t.same(where.get('p3')?.toolErrors, ['Bash'], "sed's is_error result: an error of the parent, once");
  t.notOk(where.get('p2')?.toolErrors, 'the Task result did not fail');
  t.notOk(where.get('s2')?.toolErrors);
});

t.test('the Task call ends with its result: a later identical prompt is not a sub-agent', async (t) => {
  const { events, facts: f } = subagentStream();
  const late = llmCall({
    pid: f.agentPid,
    id: 'late',
    start: T0 + 200_000,
    end: T0 + 210_000,
    messages: [{ role: 'user', content: f.taskPrompt }],
  });
  const { where } = follow([...events, late]);
  t.notOk(where.get('late')?.parent, 'no open Task');
});

t.test('a sub-agent in another process is not matched by prompt alone', async (t) => {
  const { events, facts: f } = subagentStream();
  const other = llmCall({
    pid: 999,
    id: 'o1',
    start: T0 + 35_000,
    end: T0 + 36_000,
    messages: [{ role: 'user', content: f.taskPrompt }],
  });
  const { where } = follow([...events.slice(0, 4), other]);
  t.notOk(where.get('o1')?.parent);
  t.match(where.get('o1')?.session, /^pid:999@/);
});

t.test('without a conversation id: the process tree, from its root agent', async (t) => {
  const a = llmCall({ pid: 10, id: 'a', start: T0, end: T0 + 10 });
  const child = llmCall({ pid: 11, id: 'b', start: T0 + 100, end: T0 + 110 });
  const { where } = follow([fork(11, 10, T0 + 50), exec(11, 10, ['/usr/bin/node', 'worker.js'], T0 + 60), a, child]);
  t.equal(where.get('a')?.session, `pid:10@${T0}`);
  t.equal(where.get('b')?.session, `pid:10@${T0}`, "a child process's calls join its ancestor's session");
  t.equal(where.get('b')?.pid, 10, 'rooted at the ancestor');
  // A new process on a reused pid starts a session of its own.
  const again = llmCall({ pid: 10, id: 'c', start: T0 + 5000, end: T0 + 5010 });
  const r = follow([a, fork(10, 1, T0 + 4000), again]);
  t.not(r.where.get('c')?.session, r.where.get('a')?.session);
});

t.test('agent names', async (t) => {
  t.equal(agentName('claude', ['/usr/local/bin/claude', '-p', 'x']), 'claude');
  t.equal(agentName('node', ['node', '/usr/lib/node_modules/@google/gemini-cli/dist/index.js']), 'gemini');
  t.equal(agentName('codex', ['/home/u/.cache/codex']), 'codex');
  t.equal(agentName('python3', ['python3', 'agent.py']), 'python3');
  t.equal(agentName(undefined, undefined), undefined);
});

t.test('the filter: one parser for URL parameters and --filter', async (t) => {
  const p = (o: Record<string, string>) => parseFilter((n) => o[n]);
  t.same(p({ agent: 'claude', status: 'error', alerts: '1', from: '2026-12-05', to: '1800000000000000' }), {
    agent: 'claude',
    status: 'error',
    alerts: true,
    from: Date.parse('2026-12-05') * 1000,
    to: 1_800_000_000_000_000,
  });
  t.same(p({ alerts: '0' }), {}, 'alerts=0 is no filter');
  t.throws(() => p({ status: 'bad' }), FilterError);
  t.throws(() => p({ from: 'yesterday' }), FilterError);
  t.throws(() => p({ from: '2', to: '1' }), /from: after to/);
  const s = {
    agent: 'claude',
    host: 'h',
    models: ['m1'],
    providers: ['anthropic'],
    tools: ['Bash'],
    errors: 1,
    alerts: 0,
    start: 10,
    end: 20,
    text: 'grep -rn todo src',
  };
  t.ok(sessionMatches(s, {}));
  t.ok(sessionMatches(s, { agent: 'claude', model: 'm1', tool: 'Bash', status: 'error', q: 'TODO grep' }));
  t.notOk(sessionMatches(s, { agent: 'gemini' }));
  t.notOk(sessionMatches(s, { model: 'm2' }));
  t.notOk(sessionMatches(s, { provider: 'openai' }));
  t.notOk(sessionMatches(s, { tool: 'Write' }));
  t.notOk(sessionMatches(s, { host: 'x' }));
  t.notOk(sessionMatches(s, { status: 'ok' }));
  t.notOk(sessionMatches(s, { alerts: true }));
  t.notOk(sessionMatches(s, { from: 21 }));
  t.notOk(sessionMatches(s, { to: 9 }));
  t.notOk(sessionMatches(s, { q: 'sed' }));
});
