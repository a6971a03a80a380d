// The binary records bpf/sslsniff.bpf.c writes to its ring buffer, and its counters.
// Layouts mirror `struct rec_hdr` and `struct stats` there (checked by _Static_assert on
// the C side and by the kernel tests on this side).

export const HDR_SIZE = 88;
/** Bytes of one record's payload at most (CHUNK in the BPF program). */
export const CHUNK = 16384;

export const KIND_DATA = 1;
export const KIND_HANDSHAKE = 2;
/** A file mapped executable that user space has not looked at yet (discover.ts). */
export const KIND_MAP = 3;
export const F_FAULT = 1;
export const F_CAPPED = 2;
export const F_HELD = 4;
export const F_PATH_TRUNC = 8;

/** Attach cookie bits (CK_* in the BPF program). */
export const CK_WRITE = 1 << 8;
export const CK_RET32 = 1 << 9;
export const CK_EX = 1 << 10;
/** EVP_AEAD_CTX_seal_scatter / _open_gather: their argument layout, not seal's / open's. */
export const CK_SCATTER = 1 << 11;
/** rustls: the socket a sealing AEAD context's record went out on (`conn` the context, `fd`). */
export const KIND_FD = 4;
/** rustls: a TLS 1.3 record with padding; user space strips it and keeps application data. */
export const F_PADDED = 16;

export interface RecordHeader {
  /** CLOCK_MONOTONIC ns when the call returned (a number: exact for 104 days of uptime, then to a few ns). */
  ts: number;
  /** The SSL object's address, in hex. */
  conn: string;
  seq: number;
  latNs: number;
  pid: number;
  tid: number;
  uid: number;
  len: number;
  off: number;
  cap: number;
  ret: number;
  /** The socket under the connection, or -1 when not known (memory-BIO libraries). */
  fd: number;
  kind: number;
  dir: number;
  lib: number;
  flags: number;
  comm: string;
}

// decodeHeader runs once per record: fields are read with byte arithmetic (the Buffer
// methods and BigInts cost more at this rate), and the strings it makes, the process
// name and the SSL object's address, come from small caches when they repeat.
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;

const COMM = 68;
let lastComm = '';
let lastCommLen = -1;
const lastCommBytes = new Uint8Array(16);

function commOf(b: Buffer): string {
  let n = 0;
  while (n < 16 && b[COMM + n] !== 0) n++;
  if (n === lastCommLen) {
    let i = 0;
    while (i < n && b[COMM + i] === lastCommBytes[i]) i++;
    if (i === n) return lastComm;
  }
  lastComm = b.toString('utf8', COMM, COMM + n);
  lastCommLen = n;
  lastCommBytes.set(b.subarray(COMM, COMM + n));
  return lastComm;
}

const CONN_SLOTS = 64;
const connLo = new Uint32Array(CONN_SLOTS);
const connHi = new Uint32Array(CONN_SLOTS);
const connHex: string[] = new Array<string>(CONN_SLOTS).fill('');

function connOf(lo: number, hi: number): string {
  const slot = (lo >>> 4) & (CONN_SLOTS - 1);
  if (connLo[slot] === lo && connHi[slot] === hi && connHex[slot] !== '') return connHex[slot]!;
  const hex = hi ? hi.toString(16) + lo.toString(16).padStart(8, '0') : lo.toString(16);
  connLo[slot] = lo;
  connHi[slot] = hi;
  connHex[slot] = hex;
  return hex;
}

export function decodeHeader(b: Buffer): RecordHeader {
  if (b.length < HDR_SIZE) throw new Error(`short record: ${b.length} bytes`);
  const ret = u32(b, 56);
  const fd = u32(b, 60);
  return {
    ts: u32(b, 0) + u32(b, 4) * 4294967296,
    conn: connOf(u32(b, 8), u32(b, 12)),
    seq: u32(b, 16) + u32(b, 20) * 4294967296,
    latNs: u32(b, 24) + u32(b, 28) * 4294967296,
    pid: u32(b, 32),
    tid: u32(b, 36),
    uid: u32(b, 40),
    len: u32(b, 44),
    off: u32(b, 48),
    cap: u32(b, 52),
    ret: ret > 0x7fffffff ? ret - 4294967296 : ret,
    fd: fd > 0x7fffffff ? fd - 4294967296 : fd,
    kind: b[64]!,
    dir: b[65]!,
    lib: b[66]!,
    flags: b[67]!,
    comm: commOf(b),
  };
}

/** Encode a header (the inverse of decodeHeader), for tests and replay. */
export function encodeHeader(h: RecordHeader, data: Uint8Array = new Uint8Array()): Buffer {
  const b = Buffer.alloc(HDR_SIZE + data.length);
  b.writeBigUInt64LE(BigInt(h.ts), 0);
  b.writeBigUInt64LE(BigInt(`0x${h.conn}`), 8);
  b.writeBigUInt64LE(BigInt(h.seq), 16);
  b.writeBigUInt64LE(BigInt(h.latNs), 24);
  b.writeUInt32LE(h.pid, 32);
  b.writeUInt32LE(h.tid, 36);
  b.writeUInt32LE(h.uid, 40);
  b.writeUInt32LE(h.len, 44);
  b.writeUInt32LE(h.off, 48);
  b.writeUInt32LE(h.cap, 52);
  b.writeInt32LE(h.ret, 56);
  b.writeInt32LE(h.fd, 60);
  b[64] = h.kind;
  b[65] = h.dir;
  b[66] = h.lib;
  b[67] = h.flags;
  b.write(h.comm.slice(0, 15), COMM, 'utf8');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(b, HDR_SIZE);
  return b;
}

/** The kernel-side counters, summed over CPUs (`struct stats`). */
export interface KernelStats {
  calls: number;
  bytes: number;
  records: number;
  recBytes: number;
  dropRecords: number;
  dropBytes: number;
  faults: number;
  cappedBytes: number;
}
export const STATS_FIELDS: Array<keyof KernelStats> = [
  'calls',
  'bytes',
  'records',
  'recBytes',
  'dropRecords',
  'dropBytes',
  'faults',
  'cappedBytes',
];

export function sumStats(perCpu: Buffer[]): KernelStats {
  const s = Object.fromEntries(STATS_FIELDS.map((f) => [f, 0])) as unknown as KernelStats;
  for (const b of perCpu) {
    STATS_FIELDS.forEach((f, i) => {
      s[f] += Number(b.readBigUInt64LE(i * 8));
    });
  }
  return s;
}
