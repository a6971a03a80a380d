// Kernel tests of as-proc (root, real eBPF): a script that forks, execs, opens, renames,
// unlinks, connects to a local listener, starts a grandchild that lives about a
// millisecond, and exits with a code; -c and -p filtering.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent, ProcExecEvent, ProcExitEvent } from '@agentsight/events';
import t from 'tap';
import { kernelSkipReason, ROOT, runTool, sleep, startTool } from './proc-harness.js';

const skip = kernelSkipReason(['proc.bpf.o']);
type E = AgentEvent & Record<string, unknown>;
const of = (evs: AgentEvent[], type: string, pred: (e: E) => boolean = () => true) =>
  (evs as E[]).filter((e) => e.src === 'proc' && e.type === type && pred(e));

t.test(
  'as-proc --cmd: the whole life of a script tree, each event once',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asproc-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => server.close());
    const port = (server.address() as net.AddressInfo).port;
    const script = path.join(dir, 'actions.sh');
    fs.writeFileSync(
      script,
      [
        '#!/bin/bash',
        'cd "$1"',
        'echo data > a.txt',
        'mv a.txt b.txt',
        'rm b.txt',
        'exec 3<>/dev/tcp/127.0.0.1/$2; exec 3>&-',
        // A child shell whose own child (the grandchild) lives about a millisecond.
        "/bin/sh -c '/bin/sleep 0.001; exit 0'",
        // A long argument (agents run long `bash -c` scripts) and an empty one.
        '/bin/echo "$(printf \'x%.0s\' {1..10000})" "" > /dev/null',
        // bind to port 0 then listen: listen reports the port the kernel chose; a unix connect that fails.
        'python3 -c \'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); u = socket.socket(socket.AF_UNIX)\ntry: u.connect("/nonexistent/agentsight.sock")\nexcept OSError: pass\'',
        'exit 7',
      ].join('\n') + '\n',
      { mode: 0o755 },
    );

    const r = await runTool(
      'as-proc',
      ['--interval', '0', '-q', '--cmd', '--', '/bin/bash', script, dir, String(port)],
      { timeoutMs: 60_000 },
    );
    t.equal(r.code, 7, `as-proc --cmd exits with the script's status (stderr: ${r.stderr.trim()})`);
    t.same(r.invalid, [], 'every line is a valid event');
    const evs = r.events;

    const rootExec = of(evs, 'exec', (e) => (e.argv as string[])[1] === script) as unknown as ProcExecEvent[];
    t.equal(rootExec.length, 1, 'one exec of the script');
    const root = rootExec[0]!;
    t.same(root.argv, ['/bin/bash', script, dir, String(port)], 'full argv');
    t.equal(root.filename, '/bin/bash');
    t.equal(root.cwd, fs.realpathSync(ROOT), "cwd at exec: the tool's, which the child inherits");
    t.equal(root.uid, 0);

    // Pids of the tree: root plus every fork under it.
    const tree = new Set([root.pid]);
    for (const f of of(evs, 'fork')) if (tree.has(f.ppid as number)) tree.add(f.pid!);
    t.ok(
      evs.every((e) => e.pid === undefined || tree.has(e.pid)),
      'no event from outside the tree',
    );

    const realDir = fs.realpathSync(dir);
    const opens = of(evs, 'open', (e) => e.path === path.join(realDir, 'a.txt'));
    t.equal(opens.length, 1, 'the relative open, made absolute, once');
    t.ok((opens[0]!.flags as number) & 0o100, 'O_CREAT');
    t.ok((opens[0]!.ret as number) >= 0, 'succeeded');
    t.equal(opens[0]!.pid, root.pid);

    const renames = of(evs, 'rename');
    t.equal(renames.length, 1, 'one rename');
    t.match(renames[0], { comm: 'mv', path: path.join(realDir, 'a.txt'), to: path.join(realDir, 'b.txt'), ret: 0 });
    const unlinks = of(evs, 'unlink');
    t.equal(unlinks.length, 1, 'one unlink');
    t.match(unlinks[0], { comm: 'rm', path: path.join(realDir, 'b.txt'), ret: 0 });

    const connects = of(evs, 'connect', (e) => e.family === 'inet');
    t.equal(connects.length, 1, 'one inet connect');
    t.match(connects[0], { pid: root.pid, addr: '127.0.0.1', port, ret: 0 });

    const binds = of(evs, 'bind', (e) => e.family === 'inet');
    t.equal(binds.length, 1, 'one inet bind');
    t.match(binds[0], { addr: '127.0.0.1', port: 0, ret: 0 });
    const listens = of(evs, 'listen', (e) => e.pid === binds[0]?.pid);
    t.equal(listens.length, 1, 'one listen');
    t.match(listens[0], { family: 'inet', addr: '127.0.0.1', ret: 0 });
    t.ok((listens[0]?.port as number) > 0, `listen says the port the kernel chose (${listens[0]?.port})`);
    // Only our socket: glibc may also connect to nscd or sssd sockets, depending on the host.
    const unix = of(evs, 'connect', (e) => e.family === 'unix' && e.addr === '/nonexistent/agentsight.sock');
    t.equal(unix.length, 1, 'the failed unix connect, once');
    t.match(unix[0], { ret: -2, fd: Number, pid: Number });

    const sleeps = of(evs, 'exec', (e) => e.filename === '/bin/sleep') as unknown as ProcExecEvent[];
    t.equal(sleeps.length, 1, 'the 1 ms grandchild was caught');
    const gc = sleeps[0]!;
    t.same(gc.argv, ['/bin/sleep', '0.001']);
    const mid = of(evs, 'exec', (e) => e.pid === gc.ppid);
    t.equal(mid.length, 1, 'its parent is the intermediate shell');
    t.equal((mid[0]!.argv as string[])[0], '/bin/sh');
    t.not(gc.ppid, root.pid, 'a grandchild, not a child');
    const gcExit = of(evs, 'exit', (e) => e.pid === gc.pid) as unknown as ProcExitEvent[];
    t.equal(gcExit.length, 1);
    t.equal(gcExit[0]!.exit_code, 0);
    t.ok(gcExit[0]!.duration_ms! >= 1, `grandchild lived ${gcExit[0]!.duration_ms} ms`);

    const echo = of(evs, 'exec', (e) => e.filename === '/bin/echo') as unknown as ProcExecEvent[];
    t.equal(echo.length, 1);
    t.same(echo[0]!.argv, ['/bin/echo', 'x'.repeat(10000), ''], 'a 10 kB argument and an empty one, whole');
    t.notOk(echo[0]!.argv_truncated);

    for (const pid of tree) {
      t.equal(of(evs, 'exit', (e) => e.pid === pid).length, 1, `exactly one exit for ${pid}`);
    }
    const rootExit = of(evs, 'exit', (e) => e.pid === root.pid) as unknown as ProcExitEvent[];
    t.equal(rootExit[0]!.exit_code, 7, 'exit code of the script');
    t.notOk('signal' in rootExit[0]!);
    t.equal(of(evs, 'fork').length, tree.size - 1, 'one fork per child process');
    t.equal(of(evs, 'lost').length, 0, 'nothing lost');
    const byTs = evs.filter((e) => !(e as E).folded);
    t.ok(
      byTs.every((e, i) => i === 0 || e.ts >= byTs[i - 1]!.ts - 1000),
      'events in kernel order (folded opens come at exit)',
    );
  },
);

t.test('as-proc --no-files --no-net: lifecycle only', { skip: skip ?? false, timeout: 90_000 }, async (t) => {
  const r = await runTool(
    'as-proc',
    [
      '--interval',
      '0',
      '-q',
      '--no-files',
      '--no-net',
      '--cmd',
      '--',
      '/bin/bash',
      '-c',
      'cat /etc/hostname > /dev/null; exec 3<>/dev/tcp/127.0.0.1/1 || true; /bin/true',
    ],
    { timeoutMs: 60_000 },
  );
  t.equal(r.code, 0, r.stderr);
  const types = new Set(r.events.map((e) => e.type));
  t.ok(types.has('exec') && types.has('exit') && types.has('fork'), `lifecycle events (${[...types].join(', ')})`);
  for (const x of ['open', 'connect', 'unlink', 'rename', 'bind', 'listen']) t.notOk(types.has(x), `no ${x}`);
});

t.test(
  'as-proc -c: only processes with that name and their children',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asproc-c-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const name = `astgt${process.pid % 100000}`;
    const prog = path.join(dir, name);
    fs.writeFileSync(prog, '#!/bin/sh\n[ "$2" = early ] && sleep 4\necho x > "$1/target-$2.txt"\n/bin/true\n', {
      mode: 0o755,
    });
    const run = (cmd: string, args: string[]) =>
      new Promise<number>((res) => spawn(cmd, args, { stdio: 'ignore' }).on('exit', (c) => res(c ?? -1)));
    // One instance already running when the tool starts: found in /proc, with its child.
    const early = run(prog, [dir, 'early']);
    await sleep(300);
    const tool = startTool('as-proc', ['--interval', '0', '-c', name]);
    await tool.ready;
    // Unrelated processes doing the same things, before, during and after the target.
    await run('/bin/sh', ['-c', `echo y > "${dir}/other1.txt"; /bin/true`]);
    // A script's comm is its file name: the kernel matches it at exec.
    const [c1] = await Promise.all([run(prog, [dir, 'late']), run('/bin/sh', ['-c', `echo z > "${dir}/other2.txt"`])]);
    t.equal(c1, 0);
    t.equal(await early, 0);
    await run('/bin/sh', ['-c', `echo w > "${dir}/other3.txt"`]);
    await sleep(300);
    const r = await tool.stop();
    t.same(r.invalid, []);
    const evs = r.events.filter((e) => e.src === 'proc');
    const execs = of(evs, 'exec');
    t.same(
      execs.map((e) => e.filename).sort(),
      ['/bin/true', '/bin/true', prog].sort(),
      'the named programs and their children, nothing else',
    );
    const target = execs.find((e) => e.comm === name);
    t.ok(target, 'the exec of the named program');
    const snap = of(evs, 'snapshot', (e) => e.comm === name);
    t.equal(snap.length, 1, 'the instance already running is in the snapshot');
    t.same(snap[0]?.argv, ['/bin/sh', prog, dir, 'early']);
    t.ok(
      of(evs, 'snapshot', (e) => e.comm === 'sleep' && e.ppid === snap[0]?.pid).length === 1,
      'with its running child',
    );
    const realDir = fs.realpathSync(dir);
    t.equal(of(evs, 'open', (e) => e.path === path.join(realDir, 'target-late.txt')).length, 1, "the new one's open");
    t.equal(
      of(evs, 'open', (e) => e.path === path.join(realDir, 'target-early.txt')).length,
      1,
      "the running one's later open",
    );
    t.ok(
      of(evs, 'exec', (e) => e.filename === '/bin/true' && e.ppid === target?.pid).length === 1,
      'its child is traced',
    );
    for (const o of ['other1.txt', 'other2.txt', 'other3.txt']) {
      t.equal(of(evs, 'open', (e) => String(e.path).endsWith(o)).length, 0, `unrelated ${o} not seen`);
    }
    const pids = new Set([
      target?.pid,
      ...snap.map((e) => e.pid),
      ...of(evs, 'snapshot').map((e) => e.pid),
      ...of(evs, 'fork').map((e) => e.pid),
    ]);
    t.ok(
      evs.every((e) => e.type === 'lost' || pids.has(e.pid)),
      'every event belongs to the named tree',
    );
  },
);

t.test(
  'as-proc -p: snapshot of the running tree, its later actions, stops when it exits',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asproc-p-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    // It waits (in a child sleep) until the tool is attached, then acts and exits.
    const target = spawn(
      '/bin/bash',
      ['-c', `sleep 30 & w=$!; trap 'kill $w' USR1; wait $w; echo later > "${dir}/later.txt"; /bin/true; exit 3`],
      { stdio: 'ignore' },
    );
    t.teardown(() => {
      target.kill('SIGKILL');
    });
    await sleep(300); // bash has forked its sleep
    const tool = startTool('as-proc', ['--interval', '0.5', '-p', String(target.pid)], { timeoutMs: 30_000 });
    await tool.ready;
    await sleep(1200); // metrics rounds
    target.kill('SIGUSR1');
    const r = await tool.done;
    t.equal(r.code, 0, r.stderr);
    t.same(r.invalid, []);
    const evs = r.events;
    const snaps = of(evs, 'snapshot');
    t.ok(
      snaps.some((e) => e.pid === target.pid && (e.argv as string[])[0] === '/bin/bash'),
      'the target is in the snapshot with its argv',
    );
    t.ok(
      snaps.some((e) => e.ppid === target.pid && e.comm === 'sleep'),
      'and its running child',
    );
    t.ok(snaps.every((e) => e.pid === target.pid || e.ppid === target.pid));
    t.equal(
      of(evs, 'open', (e) => e.path === path.join(fs.realpathSync(dir), 'later.txt')).length,
      1,
      'its open after start',
    );
    t.equal(of(evs, 'exit', (e) => e.pid === target.pid)[0]?.exit_code, 3);
    const m = of(evs, 'metrics', (e) => e.pid === target.pid);
    t.ok(m.length >= 2, `metrics sampled at start and every 0.5 s (${m.length})`);
    t.ok(m.every((e) => (e.rss_kb as number) > 0 && (e.threads as number) === 1));
  },
);

t.test('as-proc with no target: every process but itself', { skip: skip ?? false, timeout: 90_000 }, async (t) => {
  const tool = startTool('as-proc', ['--interval', '1']);
  await tool.ready;
  const marker = `all-marker-${process.pid}`;
  await new Promise<void>((res) => spawn('/bin/echo', [marker], { stdio: 'ignore' }).on('exit', () => res()));
  await sleep(1500); // a metrics round, which reads /proc
  const r = await tool.stop();
  t.same(r.invalid, []);
  const evs = r.events;
  t.ok(
    of(evs, 'snapshot').some((e) => e.pid === process.pid),
    'this test process is in the snapshot',
  );
  const echo = of(evs, 'exec', (e) => (e.argv as string[])[1] === marker);
  t.equal(echo.length, 1, 'an unrelated process is traced');
  t.equal(of(evs, 'exit', (e) => e.pid === echo[0]?.pid).length, 1);
  t.equal(evs.filter((e) => e.pid === tool.pid).length, 0, 'nothing of as-proc itself (its /proc reads included)');
});

t.test(
  'as-proc stops cleanly when the reader of its output goes away (| head)',
  { skip: skip ?? false, timeout: 60_000 },
  async (t) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/tools/as-proc.js'), '--interval', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    let first = '';
    await new Promise<void>((res) =>
      child.stdout.on('data', (d: Buffer) => {
        first += d;
        if (first.includes('\n')) res();
      }),
    );
    const t0 = Date.now();
    child.stdout.destroy();
    // Keep the machine busy enough that it has events to write into the closed pipe.
    const busy = spawn('/bin/sh', ['-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done']);
    const [code, signal] = await new Promise<[number | null, string | null]>((res) =>
      child.on('exit', (c, s) => res([c, s])),
    );
    clearTimeout(killer);
    busy.kill();
    t.equal(signal, null, 'not killed');
    t.equal(code, 0, 'exit 0 on a closed output');
    t.ok(Date.now() - t0 < 10_000, `within 10 s (${Date.now() - t0} ms)`);
    t.ok(JSON.parse(first.split('\n')[0]!).src === 'proc', 'it had been writing events');
  },
);

t.test(
  'as-proc --deny: a denied program and what it starts are left out, the rest of the tree kept (a rule naming an ancestor, e.g. the shell, would name them all)',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const r = await runTool(
      'as-proc',
      [
        '--interval',
        '0',
        '--no-files',
        '--deny',
        'comm:xargs',
        '--cmd',
        '--',
        '/bin/bash',
        '-c',
        '/bin/echo inner | /usr/bin/xargs /bin/echo fromxargs; /bin/echo outer',
      ],
      { timeoutMs: 60_000 },
    );
    t.equal(r.code, 0, r.stderr);
    const argv1 = (e: E) => (e.argv as string[])[1];
    t.equal(of(r.events, 'exec', (e) => e.comm === 'echo' && argv1(e) === 'outer').length, 1, 'echo outer kept');
    t.equal(of(r.events, 'exec', (e) => e.comm === 'bash').length, 1, 'bash kept');
    t.equal(of(r.events, 'exec', (e) => e.comm === 'xargs').length, 0, 'xargs left out');
    t.equal(of(r.events, 'exec', (e) => argv1(e) === 'fromxargs').length, 0, 'and the echo it started');
    t.equal(of(r.events, 'exec', (e) => e.comm === 'echo').length, 2, 'the echos bash started: kept');
    const bad = await runTool('as-proc', ['--allow', 'uid:me', '--cmd', '--', 'true']);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--allow\/--deny: "uid:me": want a numeric user id/);
  },
);

t.test('usage errors exit 2 without loading anything', async (t) => {
  const r1 = await runTool('as-proc', ['-p', '1', '-c', 'x']);
  t.equal(r1.code, 2);
  t.match(r1.stderr, /one of -p, -c and --cmd/);
  const r2 = await runTool('as-proc', ['--cmd']);
  t.equal(r2.code, 2);
  const r3 = await runTool('as-proc', ['--ring-mb', '3', '--cmd', '--', 'true']);
  t.equal(r3.code, 2);
});
