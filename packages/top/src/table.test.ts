import fs from 'node:fs';
import type { AgentEvent } from '@agentsight/events';
import AjvModule from 'ajv';
import t from 'tap';
import { TopModel } from './model.js';
import { type Snapshot, TOP_SCHEMA } from './schema.js';
import {
  ago,
  count,
  kb,
  plainText,
  type RowOf,
  type SORT_KEYS,
  sortedSnapshot,
  sortFor,
  sortKeysOf,
  sortRows,
  table,
  tableLines,
  usd,
  VIEWS,
} from './table.js';

const Ajv = AjvModule.default;

function recordedSnapshot(): Snapshot {
  const m = new TopModel();
  const lines = fs
    .readFileSync(new URL('../fixtures/sdk-agent-run.ndjson', import.meta.url), 'utf8')
    .trim()
    .split('\n');
  for (const l of lines) m.add(JSON.parse(l) as AgentEvent);
  return m.snapshot(m.lastTs + 5e6, { kind: 'store', path: '/var/lib/agentsight/agentsight.db' }, 0);
}

t.test('--json: a snapshot of a recorded run is valid against TOP_SCHEMA; a broken one is not', async (t) => {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const validate = ajv.compile(TOP_SCHEMA);
  const s = sortedSnapshot(recordedSnapshot(), 'cost');
  const doc = JSON.parse(JSON.stringify(s));
  t.ok(validate(doc), JSON.stringify(validate.errors));
  for (const v of VIEWS) t.ok(doc[v].length > 0, `${v} has rows, so its row schema was exercised`);
  t.notOk(validate({ ...doc, agents: [{ ...doc.agents[0], calls: -1 }] }), 'a negative count');
  t.notOk(validate({ ...doc, agents: [{ ...doc.agents[0], extra: 1 }] }), 'an unknown field');
  const { totals: _, ...noTotals } = doc;
  t.notOk(validate(noTotals), 'a missing field');
  t.notOk(validate({ ...doc, source: { kind: 'live' } }), 'a live source says its comm (or null)');
  t.ok(validate({ ...doc, source: { kind: 'live', comm: null }, monitor: null }));
});

t.test('sorting: figures biggest first, names a to z, reverse, a view without the key', async (t) => {
  const rows = [
    { pid: 1, name: 'b', cost_usd: 0.5, input_tokens: 10, output_tokens: 0, cpu_pct: null, last_ts: 3 },
    { pid: 2, name: 'a', cost_usd: null, input_tokens: 5, output_tokens: 50, cpu_pct: 3, last_ts: 1 },
    { pid: 3, name: 'c', cost_usd: 2, input_tokens: 1, output_tokens: 1, cpu_pct: 1, last_ts: 2 },
  ] as unknown as RowOf<'agents'>[];
  const order = (key: (typeof SORT_KEYS)[number], reverse = false) =>
    sortRows('agents', rows, key, reverse).map((r) => r.pid);
  t.same(order('cost'), [3, 1, 2], 'unpriced last');
  t.same(order('tokens'), [2, 1, 3], 'in and out together');
  t.same(order('cpu'), [2, 3, 1], 'not sampled last');
  t.same(order('name'), [2, 1, 3]);
  t.same(order('pid'), [1, 2, 3], 'pids ascending');
  t.same(order('recent'), [1, 3, 2]);
  t.same(order('cost', true), [2, 1, 3], 'reversed');
  t.equal(sortFor('files', 'cpu'), 'recent', "a key the view lacks: the view's default");
  t.equal(sortFor('agents', undefined), 'cost');
  t.same(sortKeysOf('models'), ['cost', 'tokens', 'calls', 'tools', 'errors', 'recent', 'name']);
  for (const v of VIEWS) t.ok(sortKeysOf(v).length >= 3, `${v} sorts by several keys`);
});

t.test('--plain: source, totals, the view; narrow widths drop columns, the command is cut', async (t) => {
  const s = recordedSnapshot();
  const text = plainText(s, 'agents');
  const lines = text.trimEnd().split('\n');
  t.match(lines[0], /^agentsight top {2}\d\d:\d\d:\d\dZ {2}store \/var\/lib\/agentsight\/agentsight\.db$/);
  t.match(
    lines[1],
    /^agents 1 {2}processes 3 {2}calls 3 {2}tools 2 {2}errors 1 {2}tokens in 2\.7k out 70 {2}cost \$0\.003\d {2}lost 0$/,
  );
  t.equal(lines[2], 'agents by cost');
  t.match(
    lines[3],
    /^ {2}PID AGENT +MODEL +CALLS TOOLS ERR +IN OUT +COST CPU% RSS FILES NET PROCS STATE LAST COMMAND$/,
  );
  t.match(
    lines[4],
    /^27859 sdk-agent\.js +claude-haiku-4-5 +3 +2 +1 +2\.7k +70 +\$0\.003\d +- +- +\d+ +1 +0\/3 exit +5s \/usr\/bin\/node /,
  );
  t.equal(lines.length, 5);

  const procs = plainText(s, 'processes', 'name').trimEnd().split('\n');
  t.same(
    procs.slice(4).map((l) => l.trim().split(/\s+/)[0]),
    ['27919', '27859', '27918'],
    'ls, sdk-agent.js, sh: by name',
  );
  t.match(procs[3], /^ +PID +PPID AGENT NAME +CPU% RSS CALLS TOOLS ERR +IN OUT +COST FILES NET STATE +LAST COMMAND$/);
  t.match(plainText(s, 'network'), /127\.0\.0\.1:35993 127\.0\.0\.1\n$/);

  const narrow = table('agents', s.agents, { sort: 'cost', now: s.ts, width: 60 });
  const out = tableLines(narrow);
  t.ok(
    out.every((l) => l.length <= 60),
    `fits 60 columns:\n${out.join('\n')}`,
  );
  t.same(
    narrow.header.map((h) => h.text),
    ['PID', 'AGENT', 'CALLS', 'IN', 'OUT', 'COST', 'CPU%', 'RSS'],
    'the columns of highest rank went first',
  );
  t.same(
    narrow.header.filter((h) => h.sorted).map((h) => h.text),
    ['COST'],
    'the sorted column is marked',
  );
  const wide = table('agents', s.agents, { sort: 'tokens', now: s.ts, width: 150 });
  const cmd = tableLines(wide)[1]!;
  t.ok(cmd.length <= 150 && cmd.endsWith('…'), `the command cut to fit: ${cmd}`);
  t.same(
    wide.header.filter((h) => h.sorted).map((h) => h.text),
    ['IN', 'OUT'],
  );
});

t.test('cell formats', async (t) => {
  t.same([count(999), count(1234), count(12345), count(1_234_567), count(2e9)], ['999', '1.2k', '12k', '1.2M', '2.0G']);
  t.same([usd(null), usd(0.00123), usd(12.345)], ['-', '$0.0012', '$12.35']);
  t.same([kb(null), kb(512), kb(204_800), kb(3 * 1024 * 1024)], ['-', '512K', '200M', '3.0G']);
  t.same([ago(0, 5e6), ago(0, 125e6), ago(0, 7200e6), ago(0, 2 * 86400e6)], ['5s', '2m', '2h', '2d']);
});
