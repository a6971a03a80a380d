// Decoding kernel records built byte by byte the way the C structs in bpf/proc.bpf.c and
// bpf/stdiocap.bpf.c lay them out (offsets written out here, independently of decode.ts).
import t from 'tap';
import {
  decodeExec,
  decodeExit,
  decodeFile,
  decodeHeader,
  decodeNet,
  decodeStdio,
  formatIpv6,
  parseSockaddr,
  sumLoss,
  walkToPath,
} from './decode.js';

function hdr(kind: number, pid: number, tid: number, ppid: number, ts: bigint, comm: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(kind, 0);
  b.writeUInt32LE(pid, 4);
  b.writeUInt32LE(tid, 8);
  b.writeUInt32LE(ppid, 12);
  b.writeBigUInt64LE(ts, 16);
  b.write(comm, 24, 16, 'utf8');
  return b;
}

t.test('header: comm stops at the NUL, fields little endian', async (t) => {
  const b = hdr(2, 0x01020304, 7, 1, 123456789012345n, 'bash', 40);
  b.write('XYZ', 29); // bytes past the NUL are not part of comm
  const h = decodeHeader(b);
  t.same(h, { kind: 2, pid: 0x01020304, tid: 7, ppid: 1, ts: 123456789012345n, comm: 'bash' });
  t.throws(() => decodeHeader(Buffer.alloc(39)), { name: 'RecordError' });
});

t.test('path walk: leaf first components reversed; empty is root', async (t) => {
  const b = Buffer.from('src\0proj\0home\0');
  t.equal(walkToPath(b, 0, b.length), '/home/proj/src');
  t.equal(walkToPath(b, 0, 0), '/');
  const one = Buffer.from('tmp\0');
  t.equal(walkToPath(one, 0, 4), '/tmp');
});

t.test('exec: filename, cwd, argv block with NUL separators', async (t) => {
  const argv = Buffer.from('python3\0-c\0print("a b")\0');
  const b = hdr(1, 100, 100, 99, 5n, 'python3', 56 + 256 + 640 + argv.length);
  b.writeUInt32LE(1000, 40); // uid
  b.writeUInt32LE(100, 44); // old_pid
  b.writeUInt16LE('/usr/bin/python3'.length, 48);
  const cwd = Buffer.from('work\0root\0');
  b.writeUInt16LE(cwd.length, 50);
  b.writeUInt16LE(argv.length, 52);
  b.writeUInt8(0, 54);
  b.writeUInt8(0, 55);
  b.write('/usr/bin/python3', 56);
  cwd.copy(b, 56 + 256);
  argv.copy(b, 56 + 256 + 640);
  const r = decodeExec(b);
  t.equal(r.uid, 1000);
  t.equal(r.filename, '/usr/bin/python3');
  t.equal(r.cwd, '/root/work');
  t.same(r.argv, ['python3', '-c', 'print("a b")']);
  t.equal(r.argvTruncated, false);
  t.equal(r.ppid, 99);

  // An empty argument survives; a faulted cwd walk gives no cwd.
  const argv2 = Buffer.from('sh\0\0x\0');
  const b2 = hdr(1, 5, 5, 1, 5n, 'sh', 56 + 256 + 640 + argv2.length);
  b2.writeUInt16LE(argv2.length, 52);
  b2.writeUInt8(1, 54); // PW_FAULT
  b2.writeUInt8(1, 55);
  argv2.copy(b2, 56 + 256 + 640);
  const r2 = decodeExec(b2);
  t.same(r2.argv, ['sh', '', 'x']);
  t.equal(r2.cwd, undefined);
  t.equal(r2.argvTruncated, true);
});

t.test('exit: wait status and usage', async (t) => {
  const b = hdr(3, 42, 42, 1, 9n, 'false', 72);
  b.writeUInt32LE(1 << 8, 40);
  b.writeBigUInt64LE(1_500_000n, 48);
  b.writeBigUInt64LE(2_000_000n, 56);
  b.writeBigUInt64LE(3000n, 64);
  const r = decodeExit(b);
  t.equal(r.status, 256);
  t.equal(r.durationNs, 1_500_000n);
  t.equal(r.cpuNs, 2_000_000n);
  t.equal(r.maxrssKb, 3000);
  t.throws(() => decodeExit(b.subarray(0, 71)), { name: 'RecordError' });
});

t.test('file: open relative to a resolved base; rename with two paths', async (t) => {
  const P1 = 64,
    B1 = 64 + 256,
    P2 = B1 + 640,
    B2 = P2 + 256;
  const o = hdr(4, 7, 8, 1, 1n, 'cat', P2);
  o.writeUInt32LE(1, 40); // open
  o.writeInt32LE(-2, 44);
  o.writeUInt32LE(0o100, 48);
  o.writeUInt16LE(5, 52);
  o.write('a.txt', P1);
  const base = Buffer.from('tmp\0');
  o.writeUInt16LE(base.length, 56);
  o.writeUInt8(0x80, 60);
  base.copy(o, B1);
  const r = decodeFile(o);
  t.equal(r.op, 1);
  t.equal(r.ret, -2);
  t.equal(r.flags, 0o100);
  t.same(r.p1, { path: 'a.txt', relative: true, base: '/tmp' });
  t.equal(r.p2, undefined);

  const m = hdr(4, 7, 8, 1, 1n, 'mv', B2 + 640);
  m.writeUInt32LE(3, 40);
  m.writeUInt16LE(6, 52);
  m.write('/a/b/c', P1);
  m.writeUInt16LE(1, 54);
  m.write('d', P2);
  m.writeUInt8(0x80 | 1, 61); // base wanted, walk faulted
  const rr = decodeFile(m);
  t.same(rr.p1, { path: '/a/b/c', relative: false });
  t.same(rr.p2, { path: 'd', relative: true });
  t.throws(() => decodeFile(m.subarray(0, B2)), { name: 'RecordError' }, 'a rename record must carry both paths');
});

t.test('net: sockaddr families, listen from the socket', async (t) => {
  const mk = (op: number, sa: Buffer) => {
    const b = hdr(5, 1, 1, 0, 1n, 'curl', 64 + 112);
    b.writeUInt32LE(op, 40);
    b.writeInt32LE(-115, 44);
    b.writeInt32LE(5, 48);
    b.writeUInt32LE(sa.length, 56);
    sa.copy(b, 64);
    return b;
  };
  const in4 = Buffer.alloc(16);
  in4.writeUInt16LE(2, 0);
  in4.writeUInt16BE(443, 2);
  Buffer.from([10, 0, 0, 1]).copy(in4, 4);
  t.match(decodeNet(mk(1, in4)), { op: 1, ret: -115, fd: 5, family: 'inet', addr: '10.0.0.1', port: 443 });

  const in6 = Buffer.alloc(28);
  in6.writeUInt16LE(10, 0);
  in6.writeUInt16BE(8080, 2);
  in6[8 + 15] = 1; // ::1
  t.match(decodeNet(mk(2, in6)), { family: 'inet6', addr: '::1', port: 8080 });

  const un = Buffer.concat([Buffer.from([1, 0]), Buffer.from('/run/x.sock\0')]);
  t.match(decodeNet(mk(1, un)), { family: 'unix', addr: '/run/x.sock' });
  const abs = Buffer.concat([Buffer.from([1, 0, 0]), Buffer.from('mcp-bus')]);
  t.match(decodeNet(mk(1, abs)), { family: 'unix', addr: '@mcp-bus' });

  const l = hdr(5, 1, 1, 0, 1n, 'node', 64 + 112);
  l.writeUInt32LE(3, 40);
  l.writeUInt16LE(2, 52);
  l.writeUInt16LE(7395, 54);
  l.writeUInt32LE(4, 56);
  Buffer.from([127, 0, 0, 1]).copy(l, 64);
  t.match(decodeNet(l), { op: 3, family: 'inet', addr: '127.0.0.1', port: 7395 });
});

t.test('ipv6 text form follows RFC 5952', async (t) => {
  const v6 = (s: number[]) => {
    const b = Buffer.alloc(16);
    s.forEach((g, i) => b.writeUInt16BE(g, 2 * i));
    return formatIpv6(b, 0);
  };
  t.equal(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]), '2001:db8::1');
  t.equal(v6([0x2001, 0xdb8, 0, 1, 0, 0, 0, 1]), '2001:db8:0:1::1', 'the longest zero run is compressed');
  t.equal(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1', 'a single zero group is not');
  t.equal(v6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
  t.equal(v6([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]), '::ffff:192.0.2.1');
  t.same(parseSockaddr(Buffer.from([2, 0]), 0, 2), { family: 'inet' }, 'short inet sockaddr: family only');
  t.same(parseSockaddr(Buffer.from([2]), 0, 1), { family: 'unknown' });
});

t.test('stdio: piece with data and flags; length checked', async (t) => {
  const data = Buffer.from('{"jsonrpc":"2.0"}\n');
  const b = hdr(6, 9, 10, 1, 77n, 'node', 72 + data.length);
  b.writeUInt32LE(1, 40);
  b.writeUInt32LE(1, 44);
  b.writeBigUInt64LE(3n, 48);
  b.writeUInt32LE(data.length, 56);
  b.writeUInt32LE(0, 60);
  b.writeUInt32LE(data.length, 64);
  b.writeUInt32LE(2, 68);
  data.copy(b, 72);
  const r = decodeStdio(b);
  t.match(r, { fd: 1, dir: 'write', seq: 3, len: data.length, off: 0, flags: 2 });
  t.equal(r.data.toString(), data.toString());
  b.writeUInt32LE(data.length + 1, 64);
  t.throws(() => decodeStdio(b), { name: 'RecordError' });
});

t.test('loss counters are summed over CPUs', async (t) => {
  const cpu = (r: number, b: number, f: number) => {
    const x = Buffer.alloc(24);
    x.writeBigUInt64LE(BigInt(r), 0);
    x.writeBigUInt64LE(BigInt(b), 8);
    x.writeBigUInt64LE(BigInt(f), 16);
    return x;
  };
  t.same(sumLoss([cpu(1, 100, 0), cpu(2, 50, 3)]), { records: 3, bytes: 150, faults: 3 });
  t.same(sumLoss([]), { records: 0, bytes: 0, faults: 0 });
});
