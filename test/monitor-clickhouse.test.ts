// `agentsight monitor --clickhouse`, as root with real eBPF and a real ClickHouse: what the
// host's store holds is also in the fleet table under this host's name, the monitor's own
// run and stop events included, so many hosts' monitors make one searchable table.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostIdentity } from '@agentsight/events';
import { haveClickHouse, queryJSON, startClickHouse } from '@agentsight/fleet';
import { startMockLlm } from '@agentsight/mock-llm';
import t from 'tap';
import { run, startMonitor, storeEvents, waitFor } from './lib/monitor.js';
import { toolPath } from './lib/run.js';
import { kernelSkipReason as procSkipReason } from './proc-harness.js';
import { kernelSkipReason } from './sslsniff-helpers.js';

const why =
  kernelSkipReason() ||
  procSkipReason(['proc.bpf.o']) ||
  (fs.existsSync(toolPath('agentsight')) ? null : `${toolPath('agentsight')} not built`);

t.test('monitor --clickhouse: the store and the fleet table hold the same events', async (t) => {
  if (why) return t.fail(`kernel test: ${why}`);
  if (!haveClickHouse()) return t.fail('clickhouse-server is not installed: make deps');
  const ch = await startClickHouse();
  t.teardown(() => ch.close());
  await ch.start();
  const base = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'as-monch-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  const dir = path.join(base, 'store');
  const mon = startMonitor(dir, ['--no-server', '--stats-interval', '0', '--clickhouse', ch.url]);
  t.teardown(async () => {
    if (mon.child.exitCode === null) await mon.stop('SIGKILL');
  });
  await mon.ready;

  const m = await startMockLlm({ script: () => ({ text: 'fleet ok', usage: { input_tokens: 3, output_tokens: 2 } }) });
  t.teardown(() => m.close());
  const body = JSON.stringify({
    model: 'claude-haiku-4-5',
    max_tokens: 8,
    messages: [{ role: 'user', content: 'hi' }],
  });
  const { code } = await run(
    'curl',
    [
      '-sS',
      '-o',
      '/dev/null',
      '--cacert',
      m.caPath,
      `${m.url}/v1/messages`,
      '-H',
      'content-type: application/json',
      '-d',
      body,
    ],
    process.env,
  );
  t.equal(code, 0, 'curl called the mock');
  const stored = await waitFor(
    () => storeEvents(dir, 'llm', 'call').filter((c) => c.host === `127.0.0.1:${m.port}`)[0] ?? null,
    15_000,
  );
  t.ok(stored, 'the call is in the store');
  t.equal(await mon.stop('SIGTERM'), 0, 'SIGTERM: exit 0');
  t.match(mon.stderr(), /clickhouse: (\d+) of \1 events sent/, 'everything sent by the end');

  const host = hostIdentity().name;
  const rows = queryJSON(ch.url, 'SELECT host, src, type, run, event FROM agentsight_events ORDER BY ts') as Array<{
    host: string;
    src: string;
    type: string;
    run: string;
    event: string;
  }>;
  t.ok(rows.length > 0, `${rows.length} rows`);
  t.ok(
    rows.every((r) => r.host === host),
    `every row under this host (${host})`,
  );
  const types = new Set(rows.map((r) => `${r.src}/${r.type}`));
  for (const ty of ['meta/run', 'meta/stop', 'llm/call', 'proc/exec']) t.ok(types.has(ty), `${ty} shipped`);
  const call = rows
    .filter((r) => r.src === 'llm' && r.type === 'call')
    .map((r) => JSON.parse(r.event))
    .find((c) => c.host === `127.0.0.1:${m.port}`);
  t.equal(call?.response?.text, 'fleet ok', 'the call as the mock answered it');
  t.equal(call?.id, stored?.id, 'the same call as the store holds');
  t.equal(new Set(rows.map((r) => r.run)).size, 1, 'one run');
  t.equal(storeEvents(dir, 'meta', 'run')[0]?.run, rows[0]!.run, "the store's run id");
});
