// as-sslsniff filters and concurrency, as root with real uprobes: -p and -c exclude other
// processes, --uid excludes other users, ten parallel clients keep their connections apart,
// and a per-call cap marks calls truncated instead of losing them silently.

import fs from 'node:fs';
import t from 'tap';
import {
  bodyFile,
  curl,
  kernelSkipReason,
  makeCert,
  matchConn,
  nodeClient,
  python,
  run,
  SNIFF,
  sha,
  startCapture,
  startServer,
  streams,
  type TestServer,
  tmpdir,
} from './sslsniff-helpers.js';

const why = kernelSkipReason();

if (why) {
  t.test('as-sslsniff filter tests', { skip: why }, async () => {});
} else {
  const dir = tmpdir();
  const tlsFiles = makeCert(dir);
  let server: TestServer;
  t.before(async () => {
    server = await startServer(tlsFiles);
  });
  t.teardown(() => {
    server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t.test('-p PID alone: finds the TLS in what the process maps (node), and only that process', async (t) => {
    const body = bodyFile(dir, 4096, 'p-body');
    const a = await nodeClient(server.port, [[body, 1000]]);
    const b = await nodeClient(server.port, [[body, 2000]]);
    const cap = await startCapture(['-p', String(a.pid)]);
    const from = server.conns.length;
    a.go();
    b.go();
    t.equal(await a.done, 0);
    t.equal(await b.done, 0);
    await server.waitConns(from + 2);
    // The tool notices within a second or two that its process is gone, and ends.
    const end = Date.now() + 5000;
    while (!/exited/.test(cap.stderr()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    t.match(cap.stderr(), new RegExp(`process ${a.pid} exited`), 'stops by itself when the process exits');
    const { events, code } = await cap.stop();
    t.equal(code, 0);
    const data = events.filter((e) => e.type === 'data');
    t.ok(data.length > 0, 'the chosen process is captured');
    t.same([...new Set(data.map((e) => e.pid))], [a.pid], 'no event from the other node process');
    const mine = server.conns.slice(from).find((c) => c.path === '/size/1000')!;
    const s = streams(events);
    t.ok(matchConn(s, mine), 'its request captured whole');
    t.equal(sha(matchConn(s, mine)!.read), mine.respSha);
    const attach = events.filter((e) => e.type === 'attach');
    t.ok(
      attach.some((e) => e.symbol === 'SSL_write' && e.path === `/proc/${a.pid}/root${process.execPath}`),
      'discovered: the node binary, through /proc/PID/root',
    );
    t.ok(
      attach.every((e) => e.pid === a.pid),
      'attach events carry the pid',
    );
  });

  t.test('-c COMM alone also finds TLS linked into running programs of that name (node)', async (t) => {
    const body = bodyFile(dir, 3000, 'cn-body');
    const a = await nodeClient(server.port, [[body, 3500]]);
    const cap = await startCapture(['-c', 'node']);
    const from = server.conns.length;
    a.go();
    t.equal(await a.done, 0);
    await server.waitConns(from + 1);
    const { events } = await cap.stop();
    t.ok(
      events.some((e) => e.type === 'attach' && e.symbol === 'SSL_write' && e.path.endsWith(process.execPath)),
      'node binary hooked',
    );
    const st = matchConn(streams(events), server.conns[from]!);
    t.ok(st, 'the node client request captured whole');
    t.equal(st?.pid, a.pid);
    t.ok(
      events.filter((e) => e.type === 'data').every((e) => e.comm === 'node'),
      'only node processes',
    );
  });

  t.test('-c COMM: only processes of that name', async (t) => {
    const body = bodyFile(dir, 2048, 'c-body');
    const cap = await startCapture(['-c', 'python3']);
    const from = server.conns.length;
    const [c1, p1] = await Promise.all([curl(server.port, body, 3000), python(server.port, body, 4000)]);
    t.equal(c1.code, 0, c1.stderr);
    t.equal(p1.code, 0, p1.stderr);
    await server.waitConns(from + 2);
    const { events } = await cap.stop();
    const data = events.filter((e) => e.type === 'data');
    t.ok(data.length > 0);
    t.same([...new Set(data.map((e) => e.comm))], ['python3'], 'no curl events');
    t.notOk(
      data.some((e) => e.pid === c1.pid),
      'curl pid absent',
    );
    const py = server.conns.slice(from).find((c) => c.path === '/size/4000')!;
    t.ok(matchConn(streams(events), py), 'python request captured whole');
  });

  t.test('--uid: other users excluded', async (t) => {
    const body = bodyFile(dir, 100, 'u-body');
    const cap = await startCapture(['-c', 'curl', '--uid', '65534']);
    const from = server.conns.length;
    const r = await curl(server.port, body, 10);
    t.equal(r.code, 0);
    await server.waitConns(from + 1);
    const { events } = await cap.stop();
    t.equal(events.filter((e) => e.type === 'data').length, 0, "root's curl not seen with --uid 65534");
  });

  t.test('ten parallel clients keep their connections apart', async (t) => {
    const cap = await startCapture(['-c', 'curl']);
    const from = server.conns.length;
    const jobs = Array.from({ length: 10 }, (_, i) => {
      const n = 64 * 1024 * (i + 1);
      return curl(server.port, bodyFile(dir, n, `par-${i}`), n + 7);
    });
    const res = await Promise.all(jobs);
    t.same(
      res.map((r) => r.code),
      Array(10).fill(0),
      'all clients succeeded',
    );
    await server.waitConns(from + 10);
    const { events } = await cap.stop();
    const s = streams(events);
    const conns = new Set<string>();
    for (const c of server.conns.slice(from)) {
      const st = matchConn(s, c);
      if (!t.ok(st, `${c.path}: request captured whole`)) continue;
      conns.add(st!.conn);
      t.equal(sha(st!.read), c.respSha, `${c.path}: response hash-equal`);
      t.same(st!.problems, [], `${c.path}: no gaps`);
    }
    t.equal(conns.size, 10, 'ten distinct connection ids');
    t.equal(new Set(res.map((r) => r.pid)).size, 10);
  });

  t.test('--max-call-mb caps a call and says so', async (t) => {
    const n = 4 << 20;
    const body = bodyFile(dir, n, 'cap-body');
    // python writes the body with one SSL_write_ex call.
    const cap = await startCapture(['-c', 'python3', '--max-call-mb', '1']);
    const from = server.conns.length;
    const r = await python(server.port, body, 10);
    t.equal(r.code, 0, r.stderr);
    await server.waitConns(from + 1);
    const { events, stderr } = await cap.stop();
    const big = events.filter((e) => e.type === 'data' && e.dir === 'write' && e.len > 1 << 20);
    t.ok(big.length >= 1, 'the large call is reported');
    for (const e of big) {
      t.equal(e.truncated, true, 'marked truncated');
      t.equal(Buffer.from(e.data, e.enc === 'base64' ? 'base64' : 'utf8').length, 1 << 20, 'exactly the cap captured');
      t.equal(
        Buffer.from(e.data, 'base64').equals(fs.readFileSync(body).subarray(0, 1 << 20)),
        true,
        'the first MiB of the body',
      );
    }
    t.match(stderr, /MiB over --max-call-mb not captured/);
    t.notOk(
      events.some((e) => e.type === 'lost'),
      'a cap is not loss',
    );
  });

  t.test('a reader that stalls: the tool holds back, the kernel ring absorbs, nothing is lost', async (t) => {
    const n = 8 << 20;
    const body = bodyFile(dir, n, 'slow-body');
    const cap = await startCapture(['-c', 'curl']);
    cap.pauseOutput();
    const from = server.conns.length;
    const r = await curl(server.port, body, n);
    t.equal(r.code, 0, r.stderr);
    await server.waitConns(from + 1);
    // 16 MiB of plaintext (as base64 JSON, ~22 MB) cannot fit the 64 KiB pipe: the tool
    // had to stop reading the ring while we were not reading it.
    await new Promise((res) => setTimeout(res, 1000));
    const anon = Number(/RssAnon:\s+(\d+)/.exec(fs.readFileSync(`/proc/${cap.child.pid}/status`, 'utf8'))?.[1] ?? 0);
    t.comment(`tool's anonymous memory while its reader stalls: ${Math.round(anon / 1024)} MiB`);
    cap.resumeOutput();
    const { events, stderr } = await cap.stop();
    t.notOk(
      events.some((e) => e.type === 'lost'),
      'no loss',
    );
    t.match(stderr, /\(100% of/);
    const st = matchConn(streams(events), server.conns[from]!);
    t.ok(st, 'request captured whole');
    t.equal(st && sha(st.read), server.conns[from]!.respSha, 'response captured whole');
  });

  t.test('a full ring is reported, never silent', async (t) => {
    // One 16 MiB SSL_write_ex call emits 1024 records at once: a 1 MiB ring cannot hold them.
    const n = 16 << 20;
    const body = bodyFile(dir, n, 'loss-body');
    const cap = await startCapture(['-c', 'python3', '--ring-mb', '1']);
    const from = server.conns.length;
    const r = await python(server.port, body, 10);
    t.equal(r.code, 0, r.stderr);
    await server.waitConns(from + 1);
    const { events, stderr } = await cap.stop();
    const lost = events.filter((e) => e.type === 'lost');
    t.ok(lost.length >= 1, 'lost event(s)');
    const recs = lost.reduce((s, e) => s + e.records, 0);
    const bytes = lost.reduce((s, e) => s + e.bytes, 0);
    t.ok(recs > 0 && bytes > 0, `records and bytes counted (${recs}, ${bytes})`);
    const big = events.filter((e) => e.type === 'data' && e.dir === 'write' && e.len === n);
    const got = big.reduce((s, e) => s + Buffer.from(e.data, e.enc === 'base64' ? 'base64' : 'utf8').length, 0);
    t.ok(
      big.every((e) => e.truncated),
      'the call that lost pieces is marked truncated',
    );
    t.ok(got < n && got + bytes >= n, `what is missing from the call (${n - got}) is counted as lost`);
    t.match(stderr, /LOST \d+ records/, 'summary says so');
  });

  const lib = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
  const alias = '/lib/x86_64-linux-gnu/libssl.so.3';
  const sameFile = fs.existsSync(lib) && fs.existsSync(alias) && fs.statSync(lib).ino === fs.statSync(alias).ino;
  t.test(
    'the same library named twice (via a symlinked directory) is hooked once',
    { skip: sameFile ? false : `needs ${alias} and ${lib} to be one file (merged /usr)` },
    async (t) => {
      const body = bodyFile(dir, 5000, 'twice-body');
      const cap = await startCapture(['--binary-path', lib, '--binary-path', alias, '-c', 'curl']);
      const from = server.conns.length;
      const r = await curl(server.port, body, 6000);
      t.equal(r.code, 0);
      await server.waitConns(from + 1);
      const { events } = await cap.stop();
      const attach = events.filter((e) => e.type === 'attach');
      t.equal(attach.length, new Set(attach.map((e) => e.symbol)).size, 'one attach per function');
      const st = matchConn(streams(events), server.conns[from]!);
      t.ok(st, 'request captured once, byte-exact (twice would double it)');
      t.same(st?.problems, []);
    },
  );

  t.test('run: a missing binary is a usage error', async (t) => {
    const r = await run(process.execPath, [
      `${process.cwd()}/dist/tools/as-sslsniff.js`,
      '--binary-path',
      '/nonexistent/bin',
    ]);
    t.equal(r.code, 2);
    t.match(r.stderr, /\/nonexistent\/bin: no such file/);
  });

  t.test('--allow and --deny: deny wins; a path rule matches the program; a bad rule is a usage error', async (t) => {
    const body = bodyFile(dir, 3000, 'sel-body');
    // Both named by an allow rule; curl also by a deny rule, which wins.
    const cap = await startCapture([
      '--allow',
      'comm:curl',
      '--allow',
      'path:/usr/bin/python3*',
      '--deny',
      'comm:curl',
    ]);
    t.match(cap.stderr(), /allow comm:curl, path:\/usr\/bin\/python3\*; deny comm:curl/);
    const from = server.conns.length;
    const [c, p] = await Promise.all([curl(server.port, body, 4100), python(server.port, body, 4200)]);
    t.equal(c.code, 0, c.stderr);
    t.equal(p.code, 0, p.stderr);
    await server.waitConns(from + 2);
    const { events } = await cap.stop();
    const pyConn = server.conns.slice(from).find((x) => x.path === '/size/4200')!;
    const st = matchConn(streams(events), pyConn);
    t.ok(st, 'python (allowed by its path) captured whole');
    t.equal(st && sha(st.read), pyConn.respSha);
    t.notOk(
      events.some((e) => e.pid === c.pid),
      'nothing of curl (allowed by name, denied by name: deny wins)',
    );
    const bad = await run(process.execPath, [SNIFF, '--allow', 'name:curl']);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--allow\/--deny: "name:curl": want KIND:VALUE, KIND one of comm, path, uid, agent/);
  });
}
