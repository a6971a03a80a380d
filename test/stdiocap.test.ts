// Kernel tests of as-stdiocap (root, real eBPF): stdin and stdout of a process tree over
// pipes, byte exact; a 1 MiB write arrives whole; binary data; -c excludes the rest.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { decodePayload, type StdioDataEvent } from '@agentsight/events';
import { kernelSkipReason, runTool, sleep, startTool } from './proc-harness.js';

const skip = kernelSkipReason(['stdiocap.bpf.o']);
const data = (evs: unknown[]) => (evs as StdioDataEvent[]).filter((e) => e.src === 'stdio' && e.type === 'data');
const join = (evs: StdioDataEvent[]) => Buffer.concat([...evs].sort((a, b) => a.seq - b.seq).map((e) => decodePayload(e)));

t.test('as-stdiocap --cmd: pipes in and out, byte exact, large write whole', { skip: skip ?? false, timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const input = crypto.randomBytes(200_000);
  const big = crypto.randomBytes(1 << 20);
  fs.writeFileSync(path.join(dir, 'big'), big);
  const capture = path.join(dir, 'cap.ndjson');
  const script = `cat; dd if="${dir}/big" bs=1048576 count=1 status=none; printf '\\377\\000tail'`;
  // With -o the command's stdout is ours: the test sees exactly what the command wrote.
  const r = await runTool('as-stdiocap', ['-q', '-o', capture, '--cmd', '--', '/bin/bash', '-c', script], { stdin: input, timeoutMs: 60_000 });
  t.equal(r.code, 0, r.stderr);
  const evs = data(fs.readFileSync(capture, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)));
  t.ok(fs.readFileSync(capture, 'utf8').indexOf('"type":"lost"') < 0, 'nothing lost');

  const cat = evs.filter((e) => e.comm === 'cat');
  t.ok(join(cat.filter((e) => e.fd === 0)).equals(input), 'what cat read on stdin is what we fed it');
  t.ok(join(cat.filter((e) => e.fd === 1)).equals(input), 'what cat wrote on stdout');
  const dd = evs.filter((e) => e.comm === 'dd' && e.fd === 1);
  t.equal(dd.length, 1, 'the 1 MiB write is one event');
  t.equal(dd[0]?.len, 1 << 20);
  t.notOk(dd[0]?.truncated);
  t.ok(dd[0] && decodePayload(dd[0]).equals(big), '... with every byte');
  const tail = evs.filter((e) => e.comm === 'bash' && e.fd === 1);
  t.equal(tail.length, 1);
  t.equal(tail[0]?.enc, 'base64', 'not UTF-8: base64');
  t.ok(tail[0] && decodePayload(tail[0]).equals(Buffer.from([0xff, 0x00, ...Buffer.from('tail')])));

  const writes = evs.filter((e) => e.fd === 1 && e.dir === 'write').sort((a, b) => a.ts - b.ts);
  t.ok(Buffer.concat(writes.map((e) => decodePayload(e))).equals(r.stdout), 'all stdout writes, in time order, are what came out of the pipe');
  const streams = new Map<string, number[]>();
  for (const e of evs) {
    const k = `${e.pid}/${e.fd}/${e.dir}`;
    streams.set(k, [...(streams.get(k) ?? []), e.seq]);
  }
  for (const [k, seqs] of streams) t.same(seqs, seqs.map((_, i) => i), `${k}: seq consecutive from 0, in order`);
});

t.test('as-stdiocap -c: only the named process tree', { skip: skip ?? false, timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-c-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const name = `asout${process.pid % 100000}`;
  const prog = path.join(dir, name);
  fs.writeFileSync(prog, '#!/bin/sh\necho "mine $1"\n/bin/echo child\n', { mode: 0o755 });
  const tool = startTool('as-stdiocap', ['-c', name]);
  await tool.ready;
  const run = (cmd: string, args: string[]) => new Promise<void>((res) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    c.stdout.resume();
    c.on('close', () => res());
  });
  await Promise.all([run(prog, ['1']), run('/bin/sh', ['-c', 'echo not-mine'])]);
  await run('/bin/echo', ['not-mine-either']);
  await sleep(300);
  const r = await tool.stop();
  t.same(r.invalid, []);
  const evs = data(r.events);
  const text = evs.map((e) => decodePayload(e).toString()).join('');
  t.equal(text, 'mine 1\nchild\n', 'the named program and its child, nothing else');
  t.ok(evs.every((e) => e.comm === name || e.comm === 'echo'));
});
