import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { processFacts } from './facts.js';
import { ProcessAgents, ProcessFilter } from './processes.js';

const ev = (type: string, pid: number, f: Record<string, unknown> = {}): AgentEvent =>
  ({ v: 1, ts: 1, src: 'proc', type, pid, comm: 'x', ...f }) as AgentEvent;
const exec = (pid: number, ppid: number, filename: string, argv: string[], extra: Record<string, unknown> = {}) =>
  ev('exec', pid, { ppid, uid: 1000, filename, argv, comm: path.basename(argv[0]!).slice(0, 15), ...extra });

t.test('ProcessAgents: from exec, over fork, else from the call', async (t) => {
  const a = new ProcessAgents();
  a.observe(exec(10, 1, '/usr/bin/node', ['node', '/usr/lib/node_modules/@google/gemini-cli/dist/index.js']));
  a.observe(ev('fork', 11, { ppid: 10 }));
  t.equal(a.get(10)?.id, 'gemini-cli');
  t.equal(a.get(11)?.id, 'gemini-cli', 'a fork runs the same program');
  a.observe(exec(11, 10, '/bin/bash', ['bash', '-c', 'ls']));
  t.equal(a.get(11), undefined, 'a tool it runs is not the agent');
  t.equal(
    a.forCall(10, { headers: { 'user-agent': 'curl/8' }, provider: 'gemini' })?.id,
    'gemini-cli',
    'the process wins',
  );
  t.same(a.forCall(11, { headers: { 'user-agent': 'Anthropic/Python 0.69.0' }, provider: 'anthropic' }), {
    id: 'anthropic-sdk-python',
    name: 'Anthropic SDK (python)',
    via: 'user-agent',
  });
  t.equal(a.get(11)?.id, 'anthropic-sdk-python', 'a process that called a model is an agent from then on');
  t.equal(a.forCall(12, { provider: 'openai', comm: 'curl' })?.name, 'curl (openai)');
  t.equal(a.forCall(undefined, {}), undefined);
  // an event that says its agent is taken as it is
  a.observe(exec(13, 1, '/x', ['x'], { agent: { id: 'amp', name: 'Amp', via: 'exe' } }));
  t.equal(a.get(13)?.id, 'amp');
});

t.test('ProcessFilter: own verdict, else the parent, else the default', async (t) => {
  const lookups: number[] = [];
  const live: Record<number, { comm: string; ppid: number; uid?: number; exe?: string; argv?: string[] }> = {
    500: { comm: 'bash', ppid: 1, exe: '/bin/bash', argv: ['bash'] },
    501: { comm: 'python3', ppid: 500, exe: '/usr/bin/python3', argv: ['python3', 'x.py'] },
  };
  const f = new ProcessFilter(
    { allow: ['agent:claude-code'], deny: ['comm:secret*'] },
    {
      lookup: (pid) => {
        lookups.push(pid);
        return live[pid];
      },
    },
  );
  const sc = (pid: number, ppid: number) =>
    ev('snapshot', pid, { ppid, comm: 'claude', argv: ['claude'], filename: '/opt/claude/versions/2.1.197' });
  t.ok(f.filter(sc(100, 1)), 'claude, running at start: allowed');
  t.ok(f.filter(ev('fork', 101, { ppid: 100 })), 'its fork');
  t.ok(f.filter(exec(101, 100, '/bin/bash', ['bash', '-c', 'ls'])), 'a tool it runs: as its parent');
  t.notOk(
    f.filter(exec(102, 101, '/usr/local/bin/secret-tool', ['secret-tool'])),
    'deny wins, under an allowed parent',
  );
  t.notOk(f.filter(ev('fork', 103, { ppid: 102 })), 'and what it forks');
  t.notOk(f.filter(exec(200, 1, '/usr/bin/curl', ['curl'])), 'a process no rule names, parent init: not allowed');
  t.ok(f.allows(undefined), 'events without a pid pass');
  t.same(lookups, [], 'proc events told everything');
  // ssl-only streams: read from /proc, up the parent chain
  t.notOk(f.allows(501));
  t.same(lookups, [501, 500]);
  t.notOk(f.allows(501));
  t.same(lookups, [501, 500], 'remembered');
  t.notOk(f.allows(999), 'gone, never seen: the default');
  t.equal(f.dropped, 3);
  // A forked child of a process not selected execs Gemini CLI; the TLS capture reports the
  // exec before the exec event is read: judged again from /proc, not by its fork.
  f.observe(ev('fork', 600, { ppid: 200 }));
  t.notOk(f.allows(600));
  live[600] = { comm: 'node', ppid: 200, argv: ['node', '/usr/lib/node_modules/@google/gemini-cli/dist/index.js'] };
  t.notOk(f.allowsAfterExec(600), 'not claude: still not selected');
  live[600] = { comm: 'claude', ppid: 200, exe: '/opt/claude/versions/2.1.197', argv: ['claude'] };
  t.ok(f.allowsAfterExec(600), 'Claude Code now');
  t.ok(f.allows(600), 'and remembered');
  // The same in a stream with proc events: a TLS event before the exec event is read.
  f.observe(ev('fork', 601, { ppid: 200 }));
  live[601] = { comm: 'claude', ppid: 200, exe: '/opt/claude/versions/2.1.197', argv: ['claude'] };
  t.notOk(f.filter(ev('open', 601)), 'its proc events before the exec: as its fork');
  t.ok(
    f.filter({ v: 1, ts: 2, src: 'ssl', type: 'data', pid: 601 } as AgentEvent),
    'its first TLS event: what /proc says it runs now',
  );
  t.ok(f.filter({ v: 1, ts: 2, src: 'ssl', type: 'data', pid: 601 } as AgentEvent), 'then remembered');
});

t.test('ProcessFilter: an exited process keeps its verdict a while, then is read again', async (t) => {
  let now = 0;
  let reads = 0;
  const f = new ProcessFilter(
    { deny: ['comm:curl'] },
    {
      now: () => now,
      ttlMs: 1000,
      lookup: () => {
        reads++;
        return { comm: 'node', ppid: 1 };
      },
    },
  );
  f.observe(exec(300, 1, '/usr/bin/curl', ['curl']));
  t.notOk(f.allows(300));
  f.observe(ev('exit', 300));
  now = 500;
  t.notOk(f.allows(300), 'its last records, after its exit');
  now = 2000;
  t.ok(f.allows(300), 'the pid reused by another program');
  t.equal(reads, 1);
  t.ok(new ProcessFilter({}).empty);
  t.ok(new ProcessFilter({}).filter(ev('exec', 1)), 'no rules: everything');
});

t.test('processFacts reads a live process and says nothing of a gone one', async (t) => {
  const f = processFacts(process.pid)!;
  t.equal(f.exe, fs.realpathSync(process.execPath));
  t.equal(f.ppid, process.ppid);
  t.equal(f.uid, os.userInfo().uid);
  t.ok(f.argv?.length);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facts-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, '42'));
  fs.writeFileSync(path.join(dir, '42/stat'), '42 (gemini (x)) S 7 42 42 0 -1');
  fs.writeFileSync(path.join(dir, '42/cmdline'), 'node\0/usr/lib/node_modules/@google/gemini-cli/dist/index.js\0');
  fs.writeFileSync(path.join(dir, '42/status'), 'Name:\tnode\nUid:\t1000\t1000\t1000\t1000\n');
  t.same(processFacts(42, dir), {
    comm: 'gemini (x)',
    argv: ['node', '/usr/lib/node_modules/@google/gemini-cli/dist/index.js'],
    ppid: 7,
    uid: 1000,
    agent: { id: 'gemini-cli', name: 'Gemini CLI', via: 'path' },
  });
  t.equal(processFacts(43, dir), undefined);
});
