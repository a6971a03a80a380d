// Throughput of `as-http` and `as-http | as-merge` on a large generated `ssl` capture,
// against `jq -c .` on the same file. The capture is the corpus's 42 recorded LLM
// exchanges (request + SSE or JSON response), replayed over 16 keep-alive connections,
// each response cut into TLS-record-sized reads; it is streamed to a temp file, never
// held in memory. BENCH_MB sets its size (default 300).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatEvent } from '@agentsight/events';
import { prng, splitPoints, sslEvents } from '@agentsight/http';
import { size } from './smoke.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CORPUS = process.env.AGENTSIGHT_CORPUS ?? path.resolve(ROOT, '../shared/corpus/llm-streams');
const TARGET = size('BENCH_MB', 300, 1) * 1024 * 1024;
const CONNS = 16;

interface Exchange {
  req: Buffer;
  res: Buffer;
}

function exchanges(): Exchange[] {
  const out: Exchange[] = [];
  for (const dir of fs.readdirSync(CORPUS).sort()) {
    const d = path.join(CORPUS, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort()) {
      if (!f.endsWith('.http')) continue;
      const base = path.join(d, f.slice(0, -5));
      const body = fs.readFileSync(`${base}.request.json`);
      const host =
        dir === 'anthropic'
          ? 'api.anthropic.com'
          : dir === 'gemini'
            ? 'generativelanguage.googleapis.com'
            : 'api.openai.com';
      const p =
        dir === 'anthropic'
          ? '/v1/messages'
          : dir === 'gemini'
            ? '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse'
            : dir === 'openai-chat'
              ? '/v1/chat/completions'
              : '/v1/responses';
      out.push({
        req: Buffer.concat([
          Buffer.from(
            `POST ${p} HTTP/1.1\r\nhost: ${host}\r\nauthorization: Bearer sk-bench\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
          ),
          body,
        ]),
        res: fs.readFileSync(`${base}.http`),
      });
    }
  }
  return out;
}

async function generate(file: string): Promise<{ bytes: number; events: number; exchanges: number }> {
  const ex = exchanges();
  const rnd = prng(42);
  const out = fs.createWriteStream(file);
  const seq = Array.from({ length: CONNS }, () => ({ write: 0, read: 0 }));
  let bytes = 0;
  let events = 0;
  let n = 0;
  let ts = 1_764_150_000_000_000;
  while (bytes < TARGET) {
    const e = ex[n % ex.length]!;
    const c = n % CONNS;
    const conn = `bench-${c}`;
    const lines: string[] = [];
    for (const ev of sslEvents(e.req, { conn, dir: 'write', seq: seq[c]!.write, ts, pid: 1000 + c, comm: 'agent' })) {
      lines.push(formatEvent(ev));
      seq[c]!.write++;
    }
    ts += 300_000;
    // Reads of up to a TLS record (16 KiB), usually much less for a stream.
    const cuts = splitPoints(e.res.length, rnd, rnd() < 0.5 ? 400 : 16384);
    for (const ev of sslEvents(e.res, {
      conn,
      dir: 'read',
      seq: seq[c]!.read,
      ts,
      stepUs: 20_000,
      pid: 1000 + c,
      comm: 'agent',
      cuts,
    })) {
      lines.push(formatEvent(ev));
      seq[c]!.read++;
    }
    ts += 1_000_000;
    const chunk = lines.join('');
    bytes += Buffer.byteLength(chunk);
    events += lines.length;
    n++;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(r));
  return { bytes, events, exchanges: n };
}

interface Timed {
  sec: number;
  cpu: number[];
  rssMb: number[];
  outBytes: number;
  ok: boolean;
  err: string;
}

/** Run a shell pipeline with every stage under GNU time; output counted, then discarded. */
function timed(stages: string[]): Timed {
  const fmt = 'TIMED %e %U %S %M';
  const cmd = stages.map((s) => `/usr/bin/time -f '${fmt}' ${s}`).join(' | ') + ' | wc -c';
  const t0 = performance.now();
  const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const sec = (performance.now() - t0) / 1000;
  const m = [...r.stderr.matchAll(/TIMED ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/g)];
  const rss = m.map((x) => Math.round(Number(x[4]) / 1024));
  const cpu = m.map((x) => Number(x[2]) + Number(x[3]));
  const other = r.stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('TIMED'))
    .slice(0, 5)
    .join('\n');
  return { sec, cpu, rssMb: rss, outBytes: Number(r.stdout.trim()) || 0, ok: r.status === 0, err: other };
}

const tool = (name: string) => `${process.execPath} ${path.join(ROOT, 'dist/tools', `${name}.js`)} --quiet`;
const hasJq = spawnSync('jq', ['--version']).status === 0;
const hasMerge =
  fs.existsSync(path.join(ROOT, 'dist/tools/as-merge.js')) &&
  !/not built yet/.test(
    spawnSync(process.execPath, [path.join(ROOT, 'dist/tools/as-merge.js'), '--help'], { encoding: 'utf8' }).stdout ??
      '',
  );

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-bench-'));
const file = path.join(dir, 'capture.ndjson');
try {
  let t0 = performance.now();
  const g = await generate(file);
  const mb = g.bytes / 2 ** 20;
  console.log(
    `capture: ${mb.toFixed(0)} MiB, ${g.events.toLocaleString('en')} ssl events, ${g.exchanges.toLocaleString('en')} LLM exchanges over ${CONNS} connections (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  // Warm the page cache so the first measurement does not pay for the disk.
  t0 = performance.now();
  spawnSync('bash', ['-c', `cat '${file}' > /dev/null`]);
  const report = (label: string, r: Timed) => {
    if (!r.ok) {
      console.log(`${label}: FAILED ${r.err}`);
      return;
    }
    // Wall time suffers when other work shares the CPUs; CPU seconds per stage do not.
    const cpu = r.cpu.map((c) => `${c.toFixed(1)} s (${(mb / c).toFixed(0)} MiB/s)`).join(' + ');
    console.log(
      `${label.padEnd(21)} wall ${r.sec.toFixed(1).padStart(5)} s = ${(mb / r.sec).toFixed(1).padStart(5)} MiB/s; CPU ${cpu}; peak RSS ${r.rssMb.map((x) => `${x} MiB`).join(' + ')}; out ${(r.outBytes / 2 ** 20).toFixed(0)} MiB`,
    );
  };
  report('as-http', timed([`${tool('as-http')} '${file}'`]));
  // Redaction (secretlint's rules over every body and larger SSE message) is most of the
  // difference between these two lines.
  report('as-http --no-redact', timed([`${tool('as-http')} --no-redact '${file}'`]));
  if (hasMerge) report('as-http | as-merge', timed([`${tool('as-http')} '${file}'`, tool('as-merge')]));
  else console.log('as-http | as-merge: skipped, as-merge is not built');
  if (hasJq) report('jq -c .', timed([`jq -c . '${file}'`]));
  else console.log('jq -c .: skipped, jq is not installed (apt-get install jq)');
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
