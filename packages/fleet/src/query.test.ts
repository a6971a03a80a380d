import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import { createClient } from '@clickhouse/client';
import t from 'tap';
import { FleetQueries, quote } from './query.js';
import { ClickHouseSink } from './sink.js';
import { haveClickHouse, startClickHouse } from './testing.js';

t.test('quote escapes what would end the literal', async (t) => {
  t.equal(quote(`a'b\\c`), `'a\\'b\\\\c'`);
});

t.test(
  'events and calls over ClickHouse, by host',
  { skip: !haveClickHouse() && 'no clickhouse-server: make deps' },
  async (t) => {
    const ch = await startClickHouse();
    t.teardown(() => ch.close());
    await ch.start();
    const T0 = 1_764_000_000_000_000;
    for (const [h, n] of [
      ['alpha', 5],
      ["be'ta", 7],
    ] as const) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetq-'));
      t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
      const sink = new ClickHouseSink({ url: ch.url, bufferDir: dir, host: h, machineId: `${h}-m` });
      for (let i = 0; i < n; i++)
        sink.write({ v: 1, ts: T0 + i * 10, src: 'proc', type: 'exec', pid: i, comm: 'x' } as unknown as AgentEvent);
      sink.write({
        v: 1,
        ts: T0 + 1000,
        src: 'llm',
        type: 'call',
        pid: 9,
        comm: 'agent',
        id: `${h}#1`,
        provider: 'anthropic',
        model: 'claude',
        status: 200,
        usage: { input_tokens: 10, output_tokens: 3 },
        timing: { start: T0 + 900, duration_ms: 0.1 },
      } as unknown as AgentEvent);
      t.match(await sink.shutdown(20_000), { sent: n + 1 });
    }
    const fq = new FleetQueries(createClient({ url: ch.url }));
    t.teardown(() => fq.client.close());
    t.match(await fq.hosts(), [
      { host: 'alpha', machine_id: 'alpha-m', events: 6 },
      { host: "be'ta", machine_id: "be'ta-m", events: 8 },
    ]);
    const all = await fq.events({ limit: 100 });
    t.equal(all.events.length, 14);
    t.equal(all.next, null);
    const beta = await fq.events({ hosts: ["be'ta"], type: ['proc/exec'] });
    t.equal(beta.events.length, 7, 'host filter (quoted) and src/type');
    t.ok(beta.events.every((e) => e._host === "be'ta"));
    // Paging visits every row once.
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const p = await fq.events({ limit: 4, cursor, order: 'desc' });
      seen.push(...p.events.map((e) => `${e._host}/${e.ts}/${e.type}`));
      if (!p.next) break;
      cursor = p.next;
    }
    t.equal(seen.length, 14);
    t.equal(new Set(seen).size, 14, 'no row twice');
    const calls = await fq.calls({ hosts: ['alpha'] });
    t.same(calls.calls, [
      {
        id: 'alpha#1',
        host: 'alpha',
        start_ts: T0 + 900,
        end_ts: T0 + 1000,
        pid: 9,
        comm: 'agent',
        provider: 'anthropic',
        model: 'claude',
        status: 200,
        tokens_in: 10,
        tokens_out: 3,
      },
    ]);
    await t.rejects(fq.events({ cursor: 'nope' }), /cursor/);
  },
);
