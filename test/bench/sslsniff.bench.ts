// as-sslsniff throughput on loopback (root, real uprobes). A python client (system
// libssl.so.3) sends S bytes and reads S bytes back over one TLS connection, as fast as
// it can, for S = 1 KiB, 64 KiB and 1 MiB; once untraced and once under as-sslsniff
// (-c python3, events read from its stdout pipe and discarded). Reported per size: the
// client's MB/s both ways, the slowdown tracing causes, the share of bytes the kernel side
// captured (its own counters), loss, and the tool's CPU per ring record. Then a client
// capped at rising rates (1 MiB transfers) finds where loss starts; last, CPU per record
// next to a C consumer of the same kernel side (test/bench/sslsniff-consumer.c, clang).
// Part `go`: the same exchange from a Go client (test/go/echoclient.go, crypto/tls, built
// here), hooked at its RET instructions: its slowdown, bytes captured and CPU per record.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { goBuild, goToolVersion } from '../lib/go.js';
import { SMOKE, size as sized } from './smoke.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SNIFF = path.join(ROOT, 'dist/tools/as-sslsniff.js');
const SECS = sized('BENCH_SECS', 3, 0.3);
// Which parts to run (comma-separated: throughput, loss, cpu, syscalls, go); all by default.
const CPU_SECS = sized('BENCH_CPU_SECS', 10, 0.3);
const CPU_ROUNDS = sized('BENCH_CPU_ROUNDS', 3, 1);
const PARTS = new Set((process.env.SSLSNIFF_BENCH ?? 'throughput,loss,cpu,syscalls,go').split(','));

if (process.getuid?.() !== 0 || !fs.existsSync(path.join(ROOT, 'bpf/sslsniff.bpf.o'))) {
  console.log('skipped: needs root and a built bpf/sslsniff.bpf.o (make build)');
  process.exit(0);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sslsniff-bench-'));
const key = path.join(dir, 'k.pem');
const cert = path.join(dir, 'c.pem');
await exec('openssl', [
  'req',
  '-x509',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:prime256v1',
  '-nodes',
  '-keyout',
  key,
  '-out',
  cert,
  '-days',
  '1',
  '-subj',
  '/CN=localhost',
]);

// Echo-sized server: reads an 8-byte length L and L bytes, answers with L bytes.
const SERVER = String.raw`
const tls = require('tls'), fs = require('fs');
const reply = Buffer.alloc(1 << 20, 'y');
tls.createServer({ key: fs.readFileSync(process.env.KEY), cert: fs.readFileSync(process.env.CERT) }, (s) => {
  let want = -1, have = 0, bufs = [], hdr = Buffer.alloc(0);
  s.on('error', () => {});
  s.setNoDelay(true);
  s.on('data', (d) => {
    while (d.length) {
      if (want < 0) {
        hdr = Buffer.concat([hdr, d]);
        if (hdr.length < 8) return;
        want = Number(hdr.readBigUInt64BE(0)); d = hdr.subarray(8); hdr = Buffer.alloc(0); have = 0;
      }
      const take = Math.min(d.length, want - have);
      have += take; d = d.subarray(take);
      if (have === want) { s.write(reply.subarray(0, want)); want = -1; }
    }
  });
}).listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\n'); });
`;

const CLIENT = `
import socket, ssl, struct, sys, time, json
port, size, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0  # offered MB/s both ways; 0: as fast as possible
ctx = ssl._create_unverified_context()
raw = socket.create_connection(('127.0.0.1', port))
raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s = ctx.wrap_socket(raw)
payload = b'x' * size
buf = bytearray(1 << 20)
mv = memoryview(buf)
n = 0
t0 = time.perf_counter()
end = t0 + secs
while time.perf_counter() < end:
    s.sendall(struct.pack('>Q', size) + payload)
    got = 0
    while got < size:
        r = s.recv_into(mv[got:size])
        if r == 0: raise SystemExit('eof')
        got += r
    n += 1
    if rate:
        ahead = t0 + n * (2 * size + 8) / (rate * 1e6) - time.perf_counter()
        if ahead > 0: time.sleep(ahead)
dt = time.perf_counter() - t0
print(json.dumps({'n': n, 'secs': dt, 'bytes': n * (2 * size + 8)}))
`;

function exec(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d) => {
      out += d;
    });
    c.stderr!.on('data', (d) => {
      err += d;
    });
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

const server: ChildProcess = spawn(process.execPath, ['-e', SERVER], {
  env: { ...process.env, KEY: key, CERT: cert },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<number>((r) => server.stdout!.once('data', (d) => r(Number(String(d).trim()))));

interface ClientResult {
  n: number;
  secs: number;
  bytes: number;
}
async function clients(
  size: number,
  k: number,
  rate = 0,
  secs = SECS,
): Promise<{ mbps: number; perClient: ClientResult[] }> {
  const rs = await Promise.all(
    Array.from({ length: k }, () =>
      exec('/usr/bin/python3', ['-c', CLIENT, String(port), String(size), String(secs), String(rate / k)]),
    ),
  );
  const perClient = rs.map((r) => JSON.parse(r) as ClientResult);
  const mbps = perClient.reduce((s, r) => s + r.bytes / r.secs, 0) / 1e6;
  return { mbps, perClient };
}

function cpuTicks(pid: number): { user: number; sys: number } {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]), sys: Number(rest[12]) };
}
const HZ = 100;

async function traced<T>(
  fn: () => Promise<T>,
  cmd: string[] = [
    process.execPath,
    SNIFF,
    '-c',
    'python3',
    ...(process.env.SNIFF_ARGS ?? '').split(' ').filter(Boolean),
  ],
): Promise<{ r: T; summary: string; cpuSecs: number; userSecs: number; stderr: string }> {
  // Events go to a pipe, as in `as-sslsniff | as-http`; this process reads and discards them.
  const c = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let outBytes = 0;
  c.stdout!.on('data', (d: Buffer) => {
    outBytes += d.length;
  });
  let err = '';
  c.stderr!.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((res, rej) => {
    const iv = setInterval(() => {
      if (/capturing:/.test(err)) {
        clearInterval(iv);
        res();
      }
    }, 50);
    c.on('close', (code) => {
      clearInterval(iv);
      rej(new Error(`as-sslsniff exited ${code}: ${err}`));
    });
  });
  const t0 = cpuTicks(c.pid!);
  const r = await fn();
  await new Promise((res) => setTimeout(res, 500));
  const t1 = cpuTicks(c.pid!);
  const closed = new Promise((res) => c.on('close', res));
  c.kill('SIGINT');
  await closed;
  void outBytes;
  return {
    r,
    summary: err.split('\n').find((l) => /calls,/.test(l)) ?? err,
    cpuSecs: (t1.user + t1.sys - t0.user - t0.sys) / HZ,
    userSecs: (t1.user - t0.user) / HZ,
    stderr: err,
  };
}

function parse(summary: string) {
  const m = /(\d+) calls, ([\d.]+) MiB captured \(([\d.]+)% of ([\d.]+) MiB seen\) in (\d+) records/.exec(summary);
  const lost = /LOST (\d+) records, ([\d.]+) MiB/.exec(summary);
  return {
    calls: Number(m?.[1] ?? 0),
    capturedMiB: Number(m?.[2] ?? 0),
    share: Number(m?.[3] ?? 0),
    seenMiB: Number(m?.[4] ?? 0),
    records: Number(m?.[5] ?? 0),
    lostRecords: Number(lost?.[1] ?? 0),
    lostMiB: Number(lost?.[2] ?? 0),
  };
}

const fmt = (n: number, d = 1) => n.toFixed(d);
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
console.log(`loopback TLS, python3 client (libssl.so.3) <-> node server, ${SECS}s per run, ${os.cpus().length} CPUs`);
if (PARTS.has('throughput'))
  console.log('size     untraced MB/s  traced MB/s  slowdown  captured  lost       tool CPU    CPU/record');
for (const size of PARTS.has('throughput') ? [1024, 64 * 1024, 1 << 20] : []) {
  const base = await clients(size, 1);
  const { r: tr, summary, cpuSecs } = await traced(() => clients(size, 1));
  const p = parse(summary);
  const label = size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
  console.log(
    `${label.padEnd(8)} ${fmt(base.mbps).padStart(13)}  ${fmt(tr.mbps).padStart(11)}  ${fmt((1 - tr.mbps / base.mbps) * 100).padStart(7)}%  ${fmt(p.share, 2).padStart(7)}%  ${String(p.lostRecords).padStart(4)} rec  ${fmt((cpuSecs / SECS) * 100).padStart(6)}% CPU  ${fmt((cpuSecs / Math.max(1, p.records)) * 1e6).padStart(6)} us`,
  );
}
if (PARTS.has('loss')) {
  console.log('\nwhere loss starts (one client, 1 MiB transfers, offered load capped):');
  console.log('offered MB/s  achieved MB/s  captured  lost records  tool CPU');
}
let lossAt = 0;
let lastLossless = 0;
for (const rate of !PARTS.has('loss') ? [] : SMOKE ? [50] : [50, 100, 150, 200, 250, 300, 400, 500, 600]) {
  const { r, summary, cpuSecs } = await traced(() => clients(1 << 20, 1, rate));
  const p = parse(summary);
  console.log(
    `${String(rate).padStart(12)}  ${fmt(r.mbps).padStart(13)}  ${fmt(p.share, 2).padStart(7)}%  ${String(p.lostRecords).padStart(12)}  ${fmt((cpuSecs / SECS) * 100).padStart(7)}%`,
  );
  if (p.lostRecords || p.share < 100) {
    lossAt = r.mbps;
    break;
  }
  lastLossless = r.mbps;
  if (r.mbps < rate * 0.9) break; // the client cannot go faster under tracing
}
if (PARTS.has('loss'))
  console.log(
    lossAt
      ? `loss starts between ${fmt(lastLossless)} and ${fmt(lossAt)} MB/s`
      : `no loss up to ${fmt(lastLossless)} MB/s (the fastest the traced client went)`,
  );
// The same kernel side read by a C consumer doing the same work per record (join pieces,
// UTF-8 check, JSON escaping or base64, a line per call): CPU per record, side by side,
// at a load both take without loss.
const csrc = path.join(ROOT, 'test/bench/sslsniff-consumer.c');
const cbin = path.join(dir, 'sslsniff-consumer');
let cOk = true;
try {
  await exec('clang', ['-O2', '-o', cbin, csrc, '-lbpf']);
} catch (e) {
  cOk = false;
  console.log(`\nC consumer not built: ${(e as Error).message.split('\n')[0]}`);
}
if (cOk && PARTS.has('cpu')) {
  const libssl = fs.existsSync('/lib/x86_64-linux-gnu/libssl.so.3')
    ? '/lib/x86_64-linux-gnu/libssl.so.3'
    : '/usr/lib/x86_64-linux-gnu/libssl.so.3';
  console.log(
    `\nCPU per record, as-sslsniff vs a C consumer (one client, ${CPU_ROUNDS} alternating runs of ${CPU_SECS}s each, medians;`,
  );
  console.log('1 KiB unthrottled, larger sizes at 100 MB/s):');
  console.log('size     as-sslsniff user+sys   C consumer user+sys   ratio user  ratio user+sys');
  for (const size of SMOKE ? [1024] : [1024, 64 * 1024, 1 << 20]) {
    const rate = size === 1024 ? 0 : 100;
    const per = (secs: number, n: number) => (secs / Math.max(1, n)) * 1e6;
    const ours = { user: [] as number[], all: [] as number[] };
    const theirs = { user: [] as number[], all: [] as number[] };
    // Long runs, alternated and repeated: CPU time is read in 10 ms ticks, the C reader uses
    // few of them, and the machine's own noise moves single runs by a fifth.
    for (let round = 0; round < CPU_ROUNDS; round++) {
      const ts = await traced(() => clients(size, 1, rate, CPU_SECS));
      const tc = await traced(
        () => clients(size, 1, rate, CPU_SECS),
        [cbin, path.join(ROOT, 'bpf/sslsniff.bpf.o'), libssl, 'python3'],
      );
      const recTs = parse(ts.summary).records;
      const recC = Number(/records (\d+)/.exec(tc.stderr)?.[1] ?? 0);
      ours.user.push(per(ts.userSecs, recTs));
      ours.all.push(per(ts.cpuSecs, recTs));
      theirs.user.push(per(tc.userSecs, recC));
      theirs.all.push(per(tc.cpuSecs, recC));
    }
    const [au, a, bu, b] = [median(ours.user), median(ours.all), median(theirs.user), median(theirs.all)];
    const label = size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
    console.log(
      `${label.padEnd(8)} ${fmt(au).padStart(7)} + ${fmt(a - au).padStart(5)} us   ${fmt(bu).padStart(7)} + ${fmt(b - bu).padStart(5)} us   ${fmt(au / Math.max(bu, 0.01), 2).padStart(9)}x  ${fmt(a / Math.max(b, 0.01), 2).padStart(13)}x`,
    );
  }
}
// Learning socket fds hooks every socket send and receive of every process while a capture
// runs (file I/O is untouched): what that adds to one, from an untraced process moving one
// byte at a time over a socket pair, and to a dd moving one byte per read and write.
if (PARTS.has('syscalls')) {
  const N = sized('BENCH_SYSCALLS', 500_000, 5000);
  const PAIR = `import socket, time\na, b = socket.socketpair()\nt0 = time.perf_counter_ns()\nfor _ in range(${N}):\n    a.send(b'x'); b.recv(1)\nprint((time.perf_counter_ns() - t0) / ${2 * N})`;
  const pair = async () => Number(await exec('/usr/bin/python3', ['-c', PAIR]));
  const dd = async () => {
    const t0 = process.hrtime.bigint();
    await exec('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=1', `count=${N}`]);
    return Number(process.hrtime.bigint() - t0) / (2 * N);
  };
  console.log('\nsystem calls of an untraced process while capturing (ns a call, medians of 3):');
  for (const [name, fn] of [
    ['socket send/recv', pair],
    ['file read/write', dd],
  ] as const) {
    const base: number[] = [];
    const under: number[] = [];
    for (let i = 0; i < (SMOKE ? 1 : 3); i++) {
      base.push(await fn());
      under.push((await traced(fn)).r);
    }
    const [b, u] = [median(base), median(under)];
    console.log(
      `${name.padEnd(17)} ${fmt(b, 0).padStart(5)} untraced  ${fmt(u, 0).padStart(5)} with as-sslsniff running  ${u - b >= 0 ? '+' : ''}${fmt(u - b, 0)} ns`,
    );
  }
}
// Go crypto/tls: the Go client, untraced and under as-sslsniff --binary-path (exits probed
// at each RET, entries matched by goroutine), next to the OpenSSL rows above.
if (PARTS.has('go')) {
  const goVer = goToolVersion();
  if (!goVer) {
    console.log('\ngo: skipped: no Go toolchain (apt-get install golang-go)');
  } else {
    const gobin = goBuild('echoclient', dir);
    const goClient = async (size: number) => {
      const r = JSON.parse(await exec(gobin, [String(port), String(size), String(SECS)])) as ClientResult;
      return { mbps: r.bytes / r.secs / 1e6 };
    };
    console.log(`\nGo crypto/tls (${goVer} client, same exchange; as-sslsniff --binary-path on it):`);
    console.log(
      'size     untraced MB/s  traced MB/s  slowdown  captured  lost       tool CPU    CPU/record  bytes captured',
    );
    for (const size of SMOKE ? [1024] : [1024, 64 * 1024, 1 << 20]) {
      const base = await goClient(size);
      const {
        r: tr,
        summary,
        cpuSecs,
      } = await traced(() => goClient(size), [process.execPath, SNIFF, '--binary-path', gobin]);
      const p = parse(summary);
      const label = size >= 1 << 20 ? `${size >> 20} MiB` : `${size >> 10} KiB`;
      console.log(
        `${label.padEnd(8)} ${fmt(base.mbps).padStart(13)}  ${fmt(tr.mbps).padStart(11)}  ${fmt((1 - tr.mbps / base.mbps) * 100).padStart(7)}%  ${fmt(p.share, 2).padStart(7)}%  ${String(p.lostRecords).padStart(4)} rec  ${fmt((cpuSecs / SECS) * 100).padStart(6)}% CPU  ${fmt((cpuSecs / Math.max(1, p.records)) * 1e6).padStart(6)} us  ${fmt(p.capturedMiB, 1).padStart(8)} MiB`,
      );
    }
  }
}
server.kill();
fs.rmSync(dir, { recursive: true, force: true });
