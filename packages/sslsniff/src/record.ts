// The binary records bpf/sslsniff.bpf.c writes to its ring buffer, and its counters.
// Layouts mirror `struct rec_hdr` and `struct stats` there (checked by _Static_assert on
// the C side and by the kernel tests on this side).
import type { TlsLib } from '@agentsight/events';

export const HDR_SIZE = 80;
/** Bytes of one record's payload at most (CHUNK in the BPF program). */
export const CHUNK = 16384;

export const KIND_DATA = 1;
export const KIND_HANDSHAKE = 2;
export const F_FAULT = 1;
export const F_CAPPED = 2;

export const LIB_IDS: Record<TlsLib, number> = { openssl: 1, boringssl: 2, gnutls: 3, nss: 4 };
export const LIB_NAMES: Record<number, TlsLib> = { 1: 'openssl', 2: 'boringssl', 3: 'gnutls', 4: 'nss' };

/** Attach cookie bits (CK_* in the BPF program). */
export const CK_WRITE = 1 << 8;
export const CK_RET32 = 1 << 9;
export const CK_EX = 1 << 10;

export interface RecordHeader {
  /** CLOCK_MONOTONIC ns when the call returned. */
  ts: bigint;
  conn: bigint;
  seq: number;
  latNs: number;
  pid: number;
  tid: number;
  uid: number;
  len: number;
  off: number;
  cap: number;
  ret: number;
  kind: number;
  dir: number;
  lib: number;
  flags: number;
  comm: string;
}

export function decodeHeader(b: Buffer): RecordHeader {
  if (b.length < HDR_SIZE) throw new Error(`short record: ${b.length} bytes`);
  const commEnd = b.indexOf(0, 64);
  return {
    ts: b.readBigUInt64LE(0),
    conn: b.readBigUInt64LE(8),
    seq: Number(b.readBigUInt64LE(16)),
    latNs: Number(b.readBigUInt64LE(24)),
    pid: b.readUInt32LE(32),
    tid: b.readUInt32LE(36),
    uid: b.readUInt32LE(40),
    len: b.readUInt32LE(44),
    off: b.readUInt32LE(48),
    cap: b.readUInt32LE(52),
    ret: b.readInt32LE(56),
    kind: b[60]!,
    dir: b[61]!,
    lib: b[62]!,
    flags: b[63]!,
    comm: b.toString('utf8', 64, commEnd < 0 || commEnd > 80 ? 80 : commEnd),
  };
}

/** Encode a header (the inverse of decodeHeader), for tests and replay. */
export function encodeHeader(h: RecordHeader, data: Uint8Array = new Uint8Array()): Buffer {
  const b = Buffer.alloc(HDR_SIZE + data.length);
  b.writeBigUInt64LE(h.ts, 0);
  b.writeBigUInt64LE(h.conn, 8);
  b.writeBigUInt64LE(BigInt(h.seq), 16);
  b.writeBigUInt64LE(BigInt(h.latNs), 24);
  b.writeUInt32LE(h.pid, 32);
  b.writeUInt32LE(h.tid, 36);
  b.writeUInt32LE(h.uid, 40);
  b.writeUInt32LE(h.len, 44);
  b.writeUInt32LE(h.off, 48);
  b.writeUInt32LE(h.cap, 52);
  b.writeInt32LE(h.ret, 56);
  b[60] = h.kind;
  b[61] = h.dir;
  b[62] = h.lib;
  b[63] = h.flags;
  b.write(h.comm.slice(0, 15), 64, 'utf8');
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
export const STATS_FIELDS: Array<keyof KernelStats> = ['calls', 'bytes', 'records', 'recBytes', 'dropRecords', 'dropBytes', 'faults', 'cappedBytes'];

export function sumStats(perCpu: Buffer[]): KernelStats {
  const s = Object.fromEntries(STATS_FIELDS.map((f) => [f, 0])) as unknown as KernelStats;
  for (const b of perCpu) {
    STATS_FIELDS.forEach((f, i) => { s[f] += Number(b.readBigUInt64LE(i * 8)); });
  }
  return s;
}
