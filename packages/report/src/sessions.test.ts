import { testing } from '@agentsight/trace';
import t from 'tap';
import { Report } from './report.js';
import { formatSessions, Sessions, toCsv, toJsonl } from './sessions.js';

const { subagentStream, subagentStreamWithHelpers, T0 } = testing;

function report() {
  const r = new Report();
  const s = subagentStream(T0);
  for (const e of s.events) r.add(e);
  return { sessions: new Sessions(r), f: s.facts, r };
}

t.test('sessions: the sub-agent under its Task call, as in the store', async (t) => {
  const { sessions, f } = report();
  t.same(
    sessions.list.map((s) => s.id),
    [f.subSession, f.session],
    'newest first',
  );
  const [sub, parent] = sessions.list as [(typeof sessions.list)[0], (typeof sessions.list)[0]];
  t.match(parent, {
    agent: 'claude',
    host: 'host1',
    run: f.run,
    title: f.prompt,
    calls: 3,
    toolCalls: 2,
    errors: 1,
    alerts: 1,
    tokensIn: 3500,
    children: [f.subSession],
  });
  t.same(sub.parent, { session: f.session, toolCall: f.taskId });
  t.ok(parent.cost! > 0);
  const text = formatSessions(sessions.list);
  t.match(text, /claude .* 3 calls/);
  t.match(text, new RegExp(`\\n  └ .*\\n.*from tool call ${f.taskId}`), 'the sub-agent indented under its parent');
});

t.test('filters: the UI filter, in memory', async (t) => {
  const { sessions, f } = report();
  const ids = (x: Parameters<Sessions['filter']>[0]) => sessions.filter(x).map((s) => s.id);
  t.same(ids({ q: f.subWord }), [f.subSession]);
  t.same(ids({ q: 'TODO markers' }), [f.session]);
  t.same(ids({ q: 'grep -rn' }), [f.subSession], 'a command its tool ran');
  t.same(ids({ tool: 'Task' }), [f.session]);
  t.same(ids({ status: 'error' }), [f.session]);
  t.same(ids({ alerts: true }), [f.session]);
  t.same(ids({ agent: 'gemini' }), []);
});

t.test('export: calls, sessions, tool calls with their processes; JSON lines and CSV', async (t) => {
  const { sessions, f } = report();
  const calls = sessions.calls({});
  t.same(
    calls.map((c) => c.id),
    ['p1', 's1', 's2', 'p2', 'p3'],
    'every call, in start order',
  );
  t.equal(calls.find((c) => c.id === 's1')!.session, f.subSession);
  t.equal(calls.find((c) => c.id === 'p1')!.prompt, f.prompt);
  t.same(
    sessions.calls({ agent: 'claude', q: f.subWord }).map((c) => c.id),
    f.subCalls,
  );
  const tools = sessions.tools({});
  t.same(
    tools.map((x) => [x.name, x.processes.map((p) => p.pid)]),
    [
      ['Task', []],
      ['Bash', [f.grepPid]],
      ['Bash', [f.sedPid]],
    ],
    'each tool call with the processes it ran',
  );
  t.equal(tools[2]!.processes[0]!.exit_code, 1);
  const jl = toJsonl(calls).trim().split('\n');
  t.equal(jl.length, 5);
  t.equal(JSON.parse(jl[0]!).id, 'p1');
  const csv = toCsv(tools);
  const lines = csv.trimEnd().split('\r\n');
  t.equal(lines[0], 'session,call,ts,tool_id,name,arguments,processes');
  t.equal(lines.length, 4);
  t.match(lines[3], /"{""command"":""sed -i 's\/TODO\/DONE\/' src\/main.ts""}"/, 'JSON cells quoted, quotes doubled');
  t.equal(toCsv([]), '\r\n');
});

t.test("sessions: startup probes and linked tools in their agent's session; errors are not exit codes", async (t) => {
  const r = new Report();
  const { events, facts: f } = subagentStreamWithHelpers(T0);
  for (const e of events) r.add(e);
  const sessions = new Sessions(r);
  for (const pid of f.probePids) t.equal(r.procs.get(pid)?.session, f.session, `probe ${pid}`);
  t.equal(r.procs.get(f.lsPid)?.session, f.session, 'ls: by its link, not the busy sub-agent');
  t.equal(r.procs.get(f.grepPid)?.session, f.subSession);
  const parent = sessions.list.find((s) => s.id === f.session)!;
  t.equal(parent.errors, 1, "sed's failed result; the probes' exit codes are not errors");
  t.same(
    sessions.filter({ status: 'ok' }).map((s) => s.id),
    [f.subSession],
  );
  t.same(
    sessions.filter({ q: 'rev-parse' }).map((s) => s.id),
    [f.session],
    "a probe's command finds its session",
  );
});
