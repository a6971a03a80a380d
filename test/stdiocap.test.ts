// Kernel tests of as-stdiocap (root, real eBPF): stdin and stdout of a process tree over
// pipes, byte exact; a 1 MiB write arrives whole; binary data; -c excludes the rest.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodePayload, type StdioDataEvent } from '@agentsight/events';
import { processTable } from '@agentsight/proc';
import t from 'tap';
import { kernelSkipReason, ROOT, runTool, sleep, startTool } from './proc-harness.js';

const skip = kernelSkipReason(['stdiocap.bpf.o']);
const data = (evs: unknown[]) => (evs as StdioDataEvent[]).filter((e) => e.src === 'stdio' && e.type === 'data');
const join = (evs: StdioDataEvent[]) =>
  Buffer.concat([...evs].sort((a, b) => a.seq - b.seq).map((e) => decodePayload(e)));

t.test(
  'as-stdiocap --cmd: pipes in and out, byte exact, large write whole',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const input = crypto.randomBytes(200_000);
    const big = crypto.randomBytes(1 << 20);
    fs.writeFileSync(path.join(dir, 'big'), big);
    const capture = path.join(dir, 'cap.ndjson');
    const script = `cat; dd if="${dir}/big" bs=1048576 count=1 status=none; printf '\\377\\000tail'`;
    // With -o the command's stdout is ours: the test sees exactly what the command wrote.
    const r = await runTool('as-stdiocap', ['-q', '-o', capture, '--cmd', '--', '/bin/bash', '-c', script], {
      stdin: input,
      timeoutMs: 60_000,
    });
    t.equal(r.code, 0, r.stderr);
    const evs = data(
      fs
        .readFileSync(capture, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
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
    t.ok(
      Buffer.concat(writes.map((e) => decodePayload(e))).equals(r.stdout),
      'all stdout writes, in time order, are what came out of the pipe',
    );
    const streams = new Map<string, number[]>();
    for (const e of evs) {
      const k = `${e.pid}/${e.fd}/${e.dir}`;
      streams.set(k, [...(streams.get(k) ?? []), e.seq]);
    }
    for (const [k, seqs] of streams)
      t.same(
        seqs,
        seqs.map((_, i) => i),
        `${k}: seq consecutive from 0, in order`,
      );
  },
);

t.test('as-stdiocap -c: only the named process tree', { skip: skip ?? false, timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-c-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const name = `asout${process.pid % 100000}`;
  const prog = path.join(dir, name);
  fs.writeFileSync(prog, '#!/bin/sh\necho "mine $1"\n/bin/echo child\n', { mode: 0o755 });
  const tool = startTool('as-stdiocap', ['-c', name]);
  await tool.ready;
  const run = (cmd: string, args: string[]) =>
    new Promise<void>((res) => {
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

t.test(
  'as-stdiocap with a tiny ring: loss is counted, and every byte is either delivered or counted lost',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-loss-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const capture = path.join(dir, 'cap.ndjson');
    const writes = 1024; // 64 MiB in 64 KiB writes, as fast as python can, into a 1 MiB ring
    const py = `import os\nb = b"y" * 65536\nfor _ in range(${writes}): os.write(1, b)`;
    const r = await runTool(
      'as-stdiocap',
      ['-q', '--ring-mb', '1', '-o', capture, '--cmd', '--', 'python3', '-c', py],
      { timeoutMs: 60_000 },
    );
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.length, writes * 65536, "the command's output was not disturbed");
    const lines = fs
      .readFileSync(capture, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const lost = lines.filter((e) => e.type === 'lost');
    const evs = data(lines).filter((e) => e.comm === 'python3' && e.fd === 1);
    const lostBytes = lost.reduce((a, e) => a + (e.bytes as number), 0);
    const delivered = evs.reduce((a, e) => a + decodePayload(e).length, 0);
    t.ok(lostBytes > 0, `loss happened and was reported (${lost.length} lost events, ${lostBytes} bytes)`);
    t.equal(delivered + lostBytes, writes * 65536, 'delivered + lost = written');
    t.ok(
      evs.every((e) => e.truncated || decodePayload(e).length === e.len),
      'a call missing bytes says so',
    );
    t.ok(
      evs.every((e) => /^y*$/.test(e.data)),
      'what was delivered is intact',
    );
    const seqs = evs.map((e) => e.seq);
    t.ok(
      seqs.every((s, i) => i === 0 || s > seqs[i - 1]!),
      'seq increasing; gaps are calls lost whole',
    );
  },
);

t.test(
  'as-stdiocap tracing everything does not capture its own pipeline (a job of its own)',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-all-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, 'all.ndjson');
    const tool = path.join(ROOT, 'dist/tools/as-stdiocap.js');
    // `as-stdiocap | cat | cat > out`: each cat reads every event we write and writes it
    // again; if any of that were captured the output would feed on itself. The second cat
    // does not read our pipe: only leaving our job's process group out keeps it out.
    // With job control (set -m) the shell gives the pipeline a process group of its own, as
    // an interactive shell does.
    const pipeline = spawn('/bin/bash', ['-c', `set -m; "${process.execPath}" "${tool}" | cat | cat > "${out}"`], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    const exited = new Promise((r) => pipeline.on('exit', r));
    const job: number[] = [];
    t.teardown(() => {
      for (const g of [pipeline.pid!, ...job]) {
        try {
          process.kill(-g, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    let err = '';
    await new Promise<void>((res) =>
      pipeline.stderr!.on('data', (d: Buffer) => {
        err += d;
        if (/tracing/.test(err)) res();
      }),
    );
    const members = [...processTable()]
      .filter(([, st]) => st.ppid === pipeline.pid)
      .map(([pid, st]) => ({ pid, comm: st.comm }));
    t.ok(members.length === 3, 'the pipeline is running');
    const nodePid = members.find((m) => m.comm !== 'cat')?.pid;
    if (nodePid) job.push(nodePid);
    const cats = members.filter((m) => m.comm === 'cat').map((m) => m.pid);
    t.equal(cats.length, 2, `found the pipeline's cats (${JSON.stringify(members)})`);
    const marker = `marker-${process.pid}`;
    await new Promise<void>((res) =>
      spawn('/bin/echo', [marker], { stdio: ['ignore', 'pipe', 'ignore'] })
        .on('close', () => res())
        .stdout!.resume(),
    );
    await sleep(1000);
    const sizeA = fs.statSync(out).size;
    await sleep(1000);
    const sizeB = fs.statSync(out).size;
    // Stop the tool only: the cats then see the end of input and flush what they hold.
    if (nodePid) process.kill(nodePid, 'SIGINT');
    await exited;
    const evs = data(
      fs
        .readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
    t.ok(
      evs.some((e) => e.comm === 'echo' && e.data === `${marker}\n`),
      'an unrelated process is captured',
    );
    t.equal(evs.filter((e) => cats.includes(e.pid)).length, 0, 'the rest of our pipeline is not');
    // Had our output been captured, the event carrying the marker would come back inside others.
    t.same(
      evs.filter((e) => e.data.includes(marker)).map((e) => e.comm),
      ['echo'],
      `our own output never comes back (${sizeB - sizeA} bytes written in 1 s)`,
    );
  },
);

t.test(
  'as-stdiocap tracing everything skips a reader of its output outside its process group',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-fifo-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const fifo = path.join(dir, 'events.fifo');
    const out = path.join(dir, 'all.ndjson');
    t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
    // The reader: its own session, stdin the FIFO our output goes to.
    const reader = spawn('/bin/sh', ['-c', `exec cat < "${fifo}" > "${out}"`], { stdio: 'ignore', detached: true });
    const fd = fs.openSync(fifo, 'w');
    const tool = spawn(process.execPath, [path.join(ROOT, 'dist/tools/as-stdiocap.js')], {
      stdio: ['ignore', fd, 'pipe'],
      detached: true,
    });
    fs.closeSync(fd);
    t.teardown(() => {
      for (const p of [tool, reader]) {
        try {
          p.kill('SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    let err = '';
    await new Promise<void>((res) =>
      tool.stderr!.on('data', (d: Buffer) => {
        err += d;
        if (/tracing/.test(err)) res();
      }),
    );
    const marker = `fifo-marker-${process.pid}`;
    await new Promise<void>((res) =>
      spawn('/bin/echo', [marker], { stdio: ['ignore', 'pipe', 'ignore'] })
        .on('close', () => res())
        .stdout!.resume(),
    );
    await sleep(1500);
    tool.kill('SIGINT');
    await new Promise((r) => reader.on('exit', r));
    const evs = data(
      fs
        .readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
    t.ok(
      evs.some((e) => e.comm === 'echo' && e.data === `${marker}\n`),
      'an unrelated process is captured',
    );
    t.equal(evs.filter((e) => e.pid === reader.pid).length, 0, 'the FIFO reader is not');
    t.same(
      evs.filter((e) => e.data.includes(marker)).map((e) => e.comm),
      ['echo'],
      'our own output never comes back',
    );
  },
);

t.test(
  'as-stdiocap: writev gathered into one call; a pty as stdout',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asstdio-v-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const capture = path.join(dir, 'cap.ndjson');
    const py = 'import os\nn = os.writev(1, [b"ab", b"", b"cd", b"x" * 20000, b"\\xff"])\nassert n == 20005';
    const marker = `pty-${process.pid}`;
    // script(1) runs the shell on a pty: its stdout is the pty's slave side.
    const script = `python3 -c '${py}'; script -qfc "echo ${marker}" /dev/null`;
    const r = await runTool('as-stdiocap', ['-q', '-o', capture, '--cmd', '--', '/bin/bash', '-c', script], {
      timeoutMs: 60_000,
    });
    t.equal(r.code, 0, r.stderr);
    const evs = data(
      fs
        .readFileSync(capture, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    );
    const v = evs.filter((e) => e.fd === 1 && e.len === 20005);
    t.equal(v.length, 1, 'one event for the writev');
    t.ok(
      v[0] &&
        decodePayload(v[0]).equals(Buffer.concat([Buffer.from('abcd'), Buffer.alloc(20000, 'x'), Buffer.from([0xff])])),
      'iovecs in order, empty one skipped, bytes exact',
    );
    const pty = evs.filter((e) => e.comm === 'echo' || (e.fd === 1 && decodePayload(e).toString().includes(marker)));
    t.ok(
      pty.some((e) => e.dir === 'write' && decodePayload(e).toString() === `${marker}\n`),
      'the write to the pty',
    );
  },
);
