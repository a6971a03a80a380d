// The agentsight command's argument handling, run as a user would: report's default mode,
// and exec/record refusing an unprivileged user before they write anything.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testing } from '@agentsight/trace';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { runCommand, runTool, toolPath } from './lib/run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentsight-cli-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const T0 = 1_764_150_000_000_000;
const cap = path.join(dir, 'cap.ndjson');
fs.writeFileSync(
  cap,
  [
    {
      v: 1,
      ts: T0,
      src: 'llm',
      type: 'call',
      id: 'c#0',
      conn: 'c',
      req: 'c#0',
      pid: 7,
      comm: 'agent',
      provider: 'anthropic',
      api: 'anthropic.messages',
      model: 'claude-haiku-4-5',
      request: { messages: [] },
      response: { text: 'ok', tool_calls: [] },
      usage: { input_tokens: 10, output_tokens: 2 },
      status: 200,
      timing: { start: T0, duration_ms: 5 },
    },
    { v: 1, ts: T0 + 1, src: 'proc', type: 'open', pid: 7, comm: 'agent', path: '/dev/null', flags: 1, ret: 3 },
    {
      v: 1,
      ts: T0 + 2,
      src: 'trace',
      type: 'alert',
      pid: 7,
      rule: 'sensitive_file',
      severity: 'critical',
      message: 'read /home/u/.ssh/id_rsa',
      evidence: {},
    },
  ]
    .map((e) => JSON.stringify(e))
    .join('\n') + '\n',
);

t.test('report without a mode is the summary', async (t) => {
  const plain = await runTool('agentsight', ['report', cap]);
  t.equal(plain.code, 0, plain.stderr);
  const summary = await runTool('agentsight', ['report', 'summary', cap]);
  t.equal(plain.stdout.toString(), summary.stdout.toString());
  t.match(plain.stdout.toString(), /llm calls +1/);
  const stdin = await runTool('agentsight', ['report'], { stdin: fs.readFileSync(cap) });
  t.equal(stdin.stdout.toString(), summary.stdout.toString(), 'stdin, no mode');
  const typo = await runTool('agentsight', ['report', 'toknes', cap]);
  t.equal(typo.code, 2, 'a word that is neither a mode nor a file is a usage error');
  t.match(typo.stderr, /toknes: not a mode/);
});

t.test('report audit lists alerts, not /dev/null', async (t) => {
  const r = await runTool('agentsight', ['report', 'audit', cap]);
  t.equal(r.code, 0, r.stderr);
  const out = r.stdout.toString();
  t.match(out, /Files written \(0\)/);
  t.notMatch(out, /\/dev\/null/);
  t.match(out, /Alerts \(1\)[\s\S]*critical +sensitive_file/);
  const j = await runTool('agentsight', ['report', 'audit', '--json', cap]);
  t.same(
    JSON.parse(j.stdout.toString()).alerts.map((a: { rule: string }) => a.rule),
    ['sensitive_file'],
  );
});

t.test('report sessions and export, with the filters of the web UI', async (t) => {
  const { events, facts: f } = testing.subagentStream(T0);
  const sub = path.join(dir, 'sub.ndjson');
  fs.writeFileSync(sub, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const text = await runTool('agentsight', ['report', 'sessions', sub]);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout.toString(), new RegExp(`id ${f.session}[\\s\\S]*└[\\s\\S]*from tool call ${f.taskId}`));
  const json = await runTool('agentsight', ['report', 'sessions', '--json', '--filter', `q=${f.subWord}`, sub]);
  t.same(
    JSON.parse(json.stdout.toString()).map((s: { id: string }) => s.id),
    [f.subSession],
    'q= finds the sub-agent by a word of its answer',
  );
  const calls = await runTool('agentsight', [
    'report',
    'export',
    '--filter',
    'agent=claude',
    '--filter',
    'tool=Task',
    sub,
  ]);
  t.equal(calls.code, 0, calls.stderr);
  t.same(
    calls.stdout
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).id),
    f.parentCalls,
    'JSON lines of the calls of the sessions kept',
  );
  const csv = await runTool('agentsight', ['report', 'export', '--what', 'tools', '--format', 'csv', sub]);
  const lines = csv.stdout.toString().trimEnd().split('\r\n');
  t.equal(lines[0], 'session,call,ts,tool_id,name,arguments,processes');
  t.equal(lines.length, 4, 'Task, grep, sed');
  const prices = path.join(dir, 'prices.json');
  fs.writeFileSync(prices, JSON.stringify({ 'claude-sonnet-4-5': { input: 1000, output: 0 } }));
  const priced = await runTool('agentsight', ['report', 'export', '--what', 'sessions', '--prices', prices, sub]);
  const rows = priced.stdout
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(Math.round(rows.find((r: { id: string }) => r.id === f.session).cost * 1000), 3500, '--prices');
  for (const bad of [
    ['--filter', 'colour=red'],
    ['--filter', 'status=maybe'],
    ['--filter', 'from=yesterday'],
  ]) {
    const r = await runTool('agentsight', ['report', 'sessions', ...bad, sub]);
    t.equal(r.code, 2, `${bad.join(' ')}: a usage error`);
  }
});

const asNobody = process.getuid?.() !== 0 ? 'running as nobody needs root (setpriv): NOT TESTED' : false;
t.test('monitor daemonset: a manifest for kubectl, with the monitor options given; --image required', async (t) => {
  const none = await runTool('agentsight', ['monitor', 'daemonset']);
  t.equal(none.code, 2, 'no image: a usage error');
  t.match(none.stderr.toString(), /--image IMAGE is required/);
  t.equal(none.stdout.length, 0, 'nothing on stdout');
  const r = await runTool('agentsight', [
    'monitor',
    'daemonset',
    '--image',
    'reg.example/agentsight:1',
    '--namespace',
    'obs',
    '--clickhouse',
    'http://ch:8123',
    '--max-size',
    '5G',
  ]);
  t.equal(r.code, 0, r.stderr.toString());
  const [ns, ds] = parseAllDocuments(r.stdout.toString()).map((d) => d.toJS());
  t.equal(ns.metadata.name, 'obs');
  t.equal(ds.kind, 'DaemonSet');
  const c = ds.spec.template.spec.containers[0];
  t.equal(c.image, 'reg.example/agentsight:1');
  t.match(
    c.args.join(' '),
    /^monitor --dir \/var\/lib\/agentsight --max-size 5G --max-age 30d .*--clickhouse http:\/\/ch:8123/,
  );
});

t.test('exec and record as an unprivileged user: exit 77 and no capture file', { skip: asNobody }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'agentsight-nobody-'));
  fs.chmodSync(work, 0o777);
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  // tap's process-info hook (NODE_OPTIONS) would write into the worktree as nobody.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !/^_?TAP/i.test(k)),
  );
  const drop = ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, toolPath('agentsight')];
  for (const args of [
    ['exec', '--', 'true'],
    ['record', '-p', '1'],
    ['exec', '-o', path.join(work, 'named.ndjson'), '--', 'true'],
  ]) {
    const r = await runCommand('setpriv', [...drop, ...args], { cwd: work, env, timeoutMs: 30_000 });
    t.equal(r.code, 77, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, /needs root/);
    t.notMatch(r.stderr, /capture:|web UI/, 'nothing started');
  }
  t.same(fs.readdirSync(work), [], 'no file created');
});
