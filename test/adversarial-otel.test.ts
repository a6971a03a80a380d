// Adversarial: as-otel against collectors that misbehave (real local servers): one that
// accepts the connection and never answers, one that answers 503, one that resets every
// connection; and a replay through a small queue, which must lose nothing.

import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startOtlpReceiver } from '@agentsight/otel';
import { mockSession } from '@agentsight/serve';
import t from 'tap';
import { runTool } from './lib/run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-otel-adv-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const STACK = /^\s+at /m;

/** A capture of `n` agent sessions, one after the other. */
function capture(n: number): string {
  const file = path.join(dir, `agents-${n}.ndjson`);
  let start = 1_790_000_000_000_000;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = mockSession({ start, agentPid: 100 + i });
    for (const e of s.events) out.push(JSON.stringify(e));
    start = s.facts.end + 1000;
  }
  fs.writeFileSync(file, out.join('\n') + '\n');
  return file;
}

/** A TCP server that does something rude with every connection. */
async function rude(kind: 'hang' | 'reset'): Promise<{ url: string; close(): void }> {
  const socks = new Set<net.Socket>();
  const server = net.createServer((c) => {
    socks.add(c);
    c.on('error', () => {
      /* the client gave up */
    });
    if (kind === 'reset') c.once('data', () => c.resetAndDestroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const s of socks) s.destroy();
      server.close();
    },
  };
}

const cap = capture(4);

t.test('a collector that never answers: the request timeout fires for both protocols; exit 0', async (t) => {
  const c = await rude('hang');
  t.teardown(() => c.close());
  for (const protocol of ['http/json', 'http/protobuf']) {
    const t0 = Date.now();
    const r = await runTool(
      'as-otel',
      [
        '--endpoint',
        c.url,
        '--protocol',
        protocol,
        '--timeout-ms',
        '300',
        '--max-retries',
        '1',
        '--flush-timeout-ms',
        '20000',
        cap,
      ],
      { timeoutMs: 30_000 },
    );
    t.equal(r.code, 0, `${protocol}: exit 0`);
    t.notMatch(r.stderr, STACK, `${protocol}: no stack trace`);
    t.match(r.stderr, /spans lost|lost \(/, `${protocol}: the loss is told`);
    t.match(r.stderr, /ETIMEDOUT \(no answer in 300 ms\)/, `${protocol}: the timeout is the reason`);
    // Two attempts of 300 ms and a backoff, not the 20 s flush deadline.
    t.ok(Date.now() - t0 < 15_000, `${protocol}: done in ${Date.now() - t0} ms`);
  }
});

t.test('a collector that answers 503 or resets the connection: retried, counted, exit 0, no stack', async (t) => {
  const rx = await startOtlpReceiver(() => ({
    status: 503,
    body: 'overloaded',
    headers: { 'content-type': 'text/plain' },
  }));
  const reset = await rude('reset');
  t.teardown(async () => {
    reset.close();
    await rx.close();
  });
  for (const [name, url, why] of [
    ['503', rx.url, /HTTP 503: overloaded/],
    ['reset', reset.url, /ECONNRESET/],
  ] as const) {
    const r = await runTool('as-otel', ['--endpoint', url, '--max-retries', '1', '--timeout-ms', '2000', cap], {
      timeoutMs: 30_000,
    });
    t.equal(r.code, 0, `${name}: exit 0`);
    t.notMatch(r.stderr, STACK, `${name}: no stack trace`);
    t.match(r.stderr, why, `${name}: the reason`);
  }
});

t.test(
  '--max-queue smaller than the spans of the end of input: a replay to a working collector loses nothing',
  async (t) => {
    const many = capture(50);
    const rx = await startOtlpReceiver(() => ({ status: 200, delayMs: 5 }));
    t.teardown(() => rx.close());
    for (const q of ['200', '7', '1']) {
      const before = rx.accepted().length;
      const r = await runTool('as-otel', ['--endpoint', rx.url, '--max-queue', q, many], { timeoutMs: 60_000 });
      t.equal(r.code, 0);
      t.notMatch(r.stderr, /lost|dropping/, `--max-queue ${q}: nothing lost`);
      const m = /(\d+) of (\d+) spans exported/.exec(r.stderr);
      t.ok(m && m[1] === m[2], `--max-queue ${q}: ${m?.[0]}`);
      t.equal(rx.accepted().length - before, Number(m?.[2]), 'the collector has them all');
    }
  },
);
