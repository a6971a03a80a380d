// as-sslsniff against real TLS clients, as root with real uprobes: curl and python
// (libssl.so.3), a node client (OpenSSL linked into the node binary), gnutls-cli (GnuTLS).
// For bodies of 0 B, 1 KiB, 1 MiB and 16 MiB each way, the byte streams rebuilt from the
// captured `data` events must hash-equal the bytes the server received and sent.

import fs from 'node:fs';
import { BpfObject } from '@agentsight/bpf';
import { type AgentEvent, validateEvent } from '@agentsight/events';
import { findTlsTarget, SslSniffer } from '@agentsight/sslsniff';
import t, { type Test } from 'tap';
import {
  bodyFile,
  curl,
  gnutlsCli,
  kernelSkipReason,
  makeCert,
  matchConn,
  nodeClient,
  python,
  run,
  type ServerConn,
  SNIFF,
  sha,
  startCapture,
  startServer,
  streams,
  type TestServer,
  tmpdir,
} from './sslsniff-helpers.js';

const SIZES = [0, 1024, 1 << 20, 16 << 20];
const why = kernelSkipReason();

/** Every server connection since `from` has a captured stream with exactly its bytes. */
function checkAll(
  t: Test,
  events: Array<Record<string, any>>,
  conns: ServerConn[],
  want: { comm?: string; lib: string; pid?: number; fd: 'socket' | 'none' },
) {
  const bad = events.map((e) => validateEvent(e)).filter(Boolean);
  t.same(bad, [], 'every event is valid');
  const s = streams(events);
  const used = new Set<string>();
  for (const c of conns) {
    const st = matchConn(s, c);
    if (!t.ok(st, `${c.path}: request of ${c.reqLen} bytes captured whole`)) continue;
    t.notOk(used.has(st!.conn), `${c.path}: its own connection`);
    used.add(st!.conn);
    t.equal(st!.read.length, c.respLen, `${c.path}: response length`);
    t.equal(sha(st!.read), c.respSha, `${c.path}: response bytes hash-equal what the server sent`);
    t.same(st!.problems, [], `${c.path}: seq consecutive, nothing truncated`);
    t.equal(st!.lib, want.lib);
    if (want.comm) t.equal(st!.comm, want.comm);
    if (want.pid) t.equal(st!.pid, want.pid);
    const fds = [
      ...new Set(
        events.filter((e) => e.conn === st!.conn && (e.type === 'data' || e.type === 'handshake')).map((e) => e.fd),
      ),
    ];
    if (want.fd === 'socket')
      t.ok(fds.length === 1 && fds[0] >= 0, `${c.path}: one socket fd on every event of the connection (${fds})`);
    else t.same(fds, [undefined], `${c.path}: no fd (the library does its socket I/O outside the TLS call)`);
  }
}

if (why) {
  t.test('as-sslsniff kernel tests', { skip: why }, async () => {});
} else {
  const dir = tmpdir();
  const tlsFiles = makeCert(dir);
  let server: TestServer;
  const bodies = new Map<number, string>(SIZES.map((n) => [n, bodyFile(dir, n)]));
  t.before(async () => {
    server = await startServer(tlsFiles);
  });
  t.teardown(() => {
    server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t.test('curl (libssl.so.3, SSL_read/SSL_write)', async (t) => {
    const cap = await startCapture(['-c', 'curl']);
    const from = server.conns.length;
    for (const n of SIZES) {
      const r = await curl(server.port, bodies.get(n)!, n);
      t.equal(r.code, 0, `curl ${n}: ${r.stderr}`);
    }
    await server.waitConns(from + SIZES.length);
    const { code, events, stderr } = await cap.stop();
    t.equal(code, 0, 'exit 0 on SIGINT');
    t.match(stderr, /calls, [\d.]+ MiB captured \(100% of/, 'summary on stderr');
    checkAll(t, events, server.conns.slice(from), { comm: 'curl', lib: 'openssl', fd: 'socket' });
    t.ok(
      events.some((e) => e.type === 'handshake' && e.comm === 'curl' && e.ret === 1),
      'handshake event',
    );
    const attach = events.filter((e) => e.type === 'attach');
    t.ok(
      attach.some((e) => e.symbol === 'SSL_write' && /libssl\.so\.3$/.test(e.path) && e.offset > 0),
      'attach events name library, symbol, offset',
    );
    t.notOk(
      events.some((e) => e.type === 'lost'),
      'no loss reported',
    );
    t.ok(
      events.every((e) => e.type !== 'data' || e.comm === 'curl'),
      '-c curl: only curl',
    );
  });

  t.test('python3 (libssl.so.3, SSL_read_ex/SSL_write_ex)', async (t) => {
    const cap = await startCapture(['-c', 'python3']);
    const from = server.conns.length;
    for (const n of SIZES) {
      const r = await python(server.port, bodies.get(n)!, n);
      t.equal(r.code, 0, `python ${n}: ${r.stderr}`);
    }
    await server.waitConns(from + SIZES.length);
    const { events } = await cap.stop();
    checkAll(t, events, server.conns.slice(from), { comm: 'python3', lib: 'openssl', fd: 'socket' });
  });

  t.test('the socket fd is the one the program holds, on reads served from the library buffer too', async (t) => {
    const cap = await startCapture(['-c', 'python3']);
    const from = server.conns.length;
    // Descriptors opened first push the socket's number up, so a right answer is not a default.
    const src = `
import os, socket, ssl, sys
pad = [os.open('/dev/null', os.O_RDONLY) for _ in range(int(sys.argv[2]))]
s = ssl._create_unverified_context().wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))))
s.sendall(b'GET /size/70000 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
got = 0
while True:
    d = s.recv(1000)
    if not d: break
    got += len(d)
print(s.fileno(), got)
`;
    const fds: number[] = [];
    const pids: number[] = [];
    for (const pad of [4, 9]) {
      const r = await run('/usr/bin/python3', ['-c', src, String(server.port), String(pad)], { timeoutMs: 60000 });
      t.equal(r.code, 0, r.stderr);
      fds.push(Number(r.stdout.toString().split(' ')[0]));
      pids.push(r.pid);
    }
    await server.waitConns(from + 2);
    const { events } = await cap.stop();
    // Only these two clients: any other python3 on the host may be doing TLS meanwhile.
    t.not(fds[0], fds[1], `the programs held different fds (${fds})`);
    pids.forEach((pid, i) => {
      const evs = events.filter((e) => e.pid === pid && (e.type === 'data' || e.type === 'handshake'));
      t.equal(new Set(evs.map((e) => e.conn)).size, 1, `client ${i + 1}: one connection`);
      // 1000-byte reads of 16 KiB TLS records: most are served from the buffer, no syscall.
      t.ok(evs.filter((e) => e.type === 'data' && e.dir === 'read').length > 60, 'many small reads');
      t.same([...new Set(evs.map((e) => e.fd))], [fds[i]], `client ${i + 1}: every event carries fd ${fds[i]}`);
    });
  });

  t.test('node (OpenSSL linked into the node binary; -p excludes the node server)', async (t) => {
    const client = await nodeClient(
      server.port,
      SIZES.map((n) => [bodies.get(n)!, n]),
    );
    const cap = await startCapture(['--binary-path', process.execPath, '-p', String(client.pid)]);
    const from = server.conns.length;
    client.go();
    t.equal(await client.done, 0, 'client finished');
    await server.waitConns(from + SIZES.length);
    const { events } = await cap.stop();
    checkAll(t, events, server.conns.slice(from), { lib: 'openssl', pid: client.pid, fd: 'none' });
    t.ok(
      events.every((e) => e.type !== 'data' || e.pid === client.pid),
      'only the client process, not the server (also node)',
    );
    t.notOk(
      events.some((e) => e.pid === server.pid),
      'server never seen',
    );
  });

  t.test('gnutls-cli (GnuTLS gnutls_record_send/recv)', async (t) => {
    const cap = await startCapture(['-c', 'gnutls-cli']);
    const from = server.conns.length;
    for (const n of SIZES.slice(0, 3)) {
      const body = fs.readFileSync(bodies.get(n)!);
      const req = Buffer.concat([
        Buffer.from(`POST /size/${n} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n`),
        body,
      ]);
      const respHead = `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n`;
      const r = await gnutlsCli(server.port, req, respHead.length + n);
      t.equal(r.got, respHead.length + n, `gnutls-cli ${n}: whole response`);
    }
    await server.waitConns(from + 3);
    const { events } = await cap.stop();
    checkAll(t, events, server.conns.slice(from), { comm: 'gnutls-cli', lib: 'gnutls', fd: 'socket' });
  });

  t.test('a kernel that refuses the socket programs: capture goes on, without fds, and says so', async (t) => {
    // What a kernel without the sock_send_length/sock_recv_length tracepoints (before 6.4)
    // does to the first load; the object cannot be loaded twice, so the sniffer reopens it.
    const load = BpfObject.prototype.load;
    let refused = 0;
    BpfObject.prototype.load = function (this: BpfObject) {
      if (refused++ === 0) throw new Error("prog 'tls_sock_send': BPF program load failed: Invalid argument");
      load.call(this);
    };
    t.teardown(() => {
      BpfObject.prototype.load = load;
    });
    const lib = fs.existsSync('/usr/lib/x86_64-linux-gnu/libssl.so.3')
      ? '/usr/lib/x86_64-linux-gnu/libssl.so.3'
      : '/lib/x86_64-linux-gnu/libssl.so.3';
    const events: AgentEvent[] = [];
    const warnings: string[] = [];
    const s = new SslSniffer({
      targets: [findTlsTarget(lib)!],
      comm: 'curl',
      emit: (e) => events.push(e),
      warn: (m) => warnings.push(m),
    });
    BpfObject.prototype.load = load;
    t.teardown(() => s.stop());
    t.ok(s.attach() > 0, 'probes attached');
    s.start();
    const from = server.conns.length;
    const r = await curl(server.port, bodies.get(1024)!, 1024);
    t.equal(r.code, 0, r.stderr);
    await server.waitConns(from + 1);
    await new Promise((res) => setTimeout(res, 300));
    s.stop();
    t.equal(refused, 2, 'loaded on the second try');
    t.match(warnings, [/^socket fds will not be reported: .*tls_sock_send/], 'one warning naming why');
    const st = matchConn(streams(events as Array<Record<string, any>>), server.conns[from]!);
    t.ok(st, 'the request captured whole');
    t.notOk(
      events.some((e) => e.src === 'ssl' && 'fd' in e),
      'no event claims a socket fd',
    );
  });

  t.test('a BPF object the kernel or libbpf refuses: one line, exit 77, no stack trace', async (t) => {
    const bad = fs.mkdtempSync(`${dir}/bpf-`);
    fs.writeFileSync(`${bad}/sslsniff.bpf.o`, 'not an ELF object');
    const r = await run(process.execPath, [SNIFF, '-c', 'curl'], {
      timeoutMs: 30000,
      env: { ...process.env, AGENTSIGHT_BPF_DIR: bad },
    });
    t.equal(r.code, 77, r.stderr);
    t.match(r.stderr, /^as-sslsniff: .*sslsniff\.bpf\.o/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  });

  t.test('exit 77 with one line when not privileged', async (t) => {
    // env -u: the test runner injects NODE_OPTIONS hooks into children, and they would
    // fail to write their own files as nobody.
    const r = await run(
      'env',
      [
        '-u',
        'NODE_OPTIONS',
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--inh-caps=-all',
        process.execPath,
        SNIFF,
        '-c',
        'curl',
      ],
      { timeoutMs: 30000 },
    );
    t.equal(r.code, 77, r.stderr);
    t.match(r.stderr, /^as-sslsniff: needs root, or CAP_BPF and CAP_PERFMON/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  });
}
