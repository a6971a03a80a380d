// Ring buffer records from bpf/proc.bpf.c and bpf/stdiocap.bpf.c, parsed from Buffers.
// The layouts mirror the C structs (little endian, x86-64); the C side pins them with
// _Static_asserts, and each offset here is the one those asserts name.

export const REC = { EXEC: 1, FORK: 2, EXIT: 3, FILE: 4, NET: 5, STDIO: 6 } as const;

export const HDR_SIZE = 40;
export const FILENAME_MAX = 256;
export const PATH_AREA = 640;
export const ARGV_MAX = 16384;
export const UPATH_MAX = 256;
export const ADDR_MAX = 112;
export const EXEC_FILENAME_OFF = 56;
export const EXEC_CWD_OFF = EXEC_FILENAME_OFF + FILENAME_MAX;
export const EXEC_ARGV_OFF = EXEC_CWD_OFF + PATH_AREA;
export const FILE_P1_OFF = 64;
export const FILE_B1_OFF = FILE_P1_OFF + UPATH_MAX;
export const FILE_P2_OFF = FILE_B1_OFF + PATH_AREA;
export const FILE_B2_OFF = FILE_P2_OFF + UPATH_MAX;
export const FILE_REC_SIZE = FILE_B2_OFF + PATH_AREA;
export const NET_REC_SIZE = 64 + ADDR_MAX;
export const EXIT_REC_SIZE = 72;
export const STDIO_DATA_OFF = 72;

/** Path walk flags (bpf/pathwalk.h). */
export const PW_FAULT = 1;
export const PW_TRUNC = 2;
/** Set in b1_flags/b2_flags when the path was relative and a base was looked up. */
export const BASE_WANTED = 0x80;

export const FOP = { OPEN: 1, UNLINK: 2, RENAME: 3 } as const;
export const NOP = { CONNECT: 1, BIND: 2, LISTEN: 3 } as const;

/** stdio record flags (bpf/stdiocap.bpf.c). */
export const SF_FAULT = 1;
export const SF_LAST = 2;
export const SF_CAPPED = 4;

export class RecordError extends Error {
  override name = 'RecordError';
}

export interface RecHeader {
  kind: number;
  pid: number;
  tid: number;
  ppid: number;
  /** CLOCK_MONOTONIC ns. */
  ts: bigint;
  comm: string;
}

/** A NUL-terminated string from a fixed-size field (bytes past the NUL ignored). */
export function cstr(buf: Buffer, off: number, max: number): string {
  const end = Math.min(buf.length, off + max);
  let i = off;
  while (i < end && buf[i] !== 0) i++;
  return buf.toString('utf8', off, i);
}

export function decodeHeader(b: Buffer): RecHeader {
  if (b.length < HDR_SIZE) throw new RecordError(`record of ${b.length} bytes is shorter than its header`);
  return {
    kind: b.readUInt32LE(0),
    pid: b.readUInt32LE(4),
    tid: b.readUInt32LE(8),
    ppid: b.readUInt32LE(12),
    ts: b.readBigUInt64LE(16),
    comm: cstr(b, 24, 16),
  };
}

function need(b: Buffer, n: number, what: string): void {
  if (b.length < n) throw new RecordError(`${what} record of ${b.length} bytes, want at least ${n}`);
}

/**
 * A kernel path walk (leaf-first components, each NUL terminated) as an absolute path.
 * Zero bytes is the root.
 */
export function walkToPath(b: Buffer, off: number, len: number): string {
  if (len === 0) return '/';
  const parts = b
    .subarray(off, off + len)
    .toString('utf8')
    .split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return '/' + parts.reverse().join('/');
}

export interface ExecRec extends RecHeader {
  uid: number;
  oldPid: number;
  filename: string;
  /** Undefined when the kernel could not walk it. */
  cwd?: string;
  cwdTruncated: boolean;
  argv: string[];
  argvTruncated: boolean;
}

export function decodeExec(b: Buffer): ExecRec {
  need(b, EXEC_ARGV_OFF, 'exec');
  const h = decodeHeader(b);
  const filenameLen = b.readUInt16LE(48);
  const cwdLen = b.readUInt16LE(50);
  const argvLen = b.readUInt16LE(52);
  const cwdFlags = b.readUInt8(54);
  const argvTrunc = b.readUInt8(55) !== 0;
  const argvBytes = b.subarray(EXEC_ARGV_OFF, EXEC_ARGV_OFF + Math.min(argvLen, b.length - EXEC_ARGV_OFF));
  const argv = argvBytes.length ? argvBytes.toString('utf8').split('\0') : [];
  // The block ends with the last argument's NUL; a truncated block ends mid-argument.
  if (argv.length && argv[argv.length - 1] === '') argv.pop();
  return {
    ...h,
    uid: b.readUInt32LE(40),
    oldPid: b.readUInt32LE(44),
    filename: b.toString('utf8', EXEC_FILENAME_OFF, EXEC_FILENAME_OFF + Math.min(filenameLen, FILENAME_MAX)),
    cwd: cwdFlags & PW_FAULT ? undefined : walkToPath(b, EXEC_CWD_OFF, Math.min(cwdLen, PATH_AREA)),
    cwdTruncated: (cwdFlags & PW_TRUNC) !== 0,
    argv,
    argvTruncated: argvTrunc,
  };
}

export interface ExitRec extends RecHeader {
  /** Raw wait status: (code << 8) | signal, 0x80 for a core dump. */
  status: number;
  durationNs: bigint;
  cpuNs: bigint;
  maxrssKb: number;
}

export function decodeExit(b: Buffer): ExitRec {
  need(b, EXIT_REC_SIZE, 'exit');
  return {
    ...decodeHeader(b),
    status: b.readUInt32LE(40),
    durationNs: b.readBigUInt64LE(48),
    cpuNs: b.readBigUInt64LE(56),
    maxrssKb: Number(b.readBigUInt64LE(64)),
  };
}

/** A path argument as the program passed it, and the directory it was relative to. */
export interface PathArg {
  path: string;
  /** Absolute directory for a relative path, when the kernel could resolve it. */
  base?: string;
  /** True when `path` was relative (base looked up, maybe unsuccessfully). */
  relative: boolean;
  baseTruncated?: boolean;
}

export interface FileRec extends RecHeader {
  op: number;
  ret: number;
  flags: number;
  p1: PathArg;
  p2?: PathArg;
}

function pathArg(b: Buffer, pOff: number, pLen: number, bOff: number, bLen: number, bFlags: number): PathArg {
  const path = b.toString('utf8', pOff, pOff + Math.min(pLen, UPATH_MAX));
  const relative = (bFlags & BASE_WANTED) !== 0;
  const arg: PathArg = { path, relative };
  if (relative && !(bFlags & PW_FAULT)) arg.base = walkToPath(b, bOff, Math.min(bLen, PATH_AREA));
  if (bFlags & PW_TRUNC) arg.baseTruncated = true;
  return arg;
}

export function decodeFile(b: Buffer): FileRec {
  need(b, FILE_P2_OFF, 'file');
  const h = decodeHeader(b);
  const op = b.readUInt32LE(40);
  const rec: FileRec = {
    ...h,
    op,
    ret: b.readInt32LE(44),
    flags: b.readUInt32LE(48),
    p1: pathArg(b, FILE_P1_OFF, b.readUInt16LE(52), FILE_B1_OFF, b.readUInt16LE(56), b.readUInt8(60)),
  };
  if (op === FOP.RENAME) {
    need(b, FILE_REC_SIZE, 'rename');
    rec.p2 = pathArg(b, FILE_P2_OFF, b.readUInt16LE(54), FILE_B2_OFF, b.readUInt16LE(58), b.readUInt8(61));
  }
  return rec;
}

export interface NetRec extends RecHeader {
  op: number;
  ret: number;
  fd: number;
  family: string;
  addr?: string;
  port?: number;
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;

export function formatIpv4(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text form: lower case, longest run of zero groups as "::", mapped IPv4 dotted. */
export function formatIpv6(b: Buffer, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b.readUInt16BE(off + 2 * i));
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return `::ffff:${formatIpv4(b, off + 12)}`;
  let bestAt = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

function familyName(f: number): string {
  return f === AF_INET ? 'inet' : f === AF_INET6 ? 'inet6' : f === AF_UNIX ? 'unix' : f === 0 ? 'unspec' : `af${f}`;
}

/** A struct sockaddr as passed to connect/bind (`len` bytes of it). */
export function parseSockaddr(b: Buffer, off: number, len: number): { family: string; addr?: string; port?: number } {
  if (len < 2) return { family: 'unknown' };
  const f = b.readUInt16LE(off);
  if (f === AF_INET && len >= 8) return { family: 'inet', port: b.readUInt16BE(off + 2), addr: formatIpv4(b, off + 4) };
  if (f === AF_INET6 && len >= 24)
    return { family: 'inet6', port: b.readUInt16BE(off + 2), addr: formatIpv6(b, off + 8) };
  if (f === AF_UNIX) {
    const p = b.subarray(off + 2, off + len);
    if (p.length === 0) return { family: 'unix', addr: '' }; // unnamed (autobind)
    // Abstract names start with a NUL and are not NUL terminated: shown with a leading "@".
    if (p[0] === 0) return { family: 'unix', addr: '@' + p.subarray(1).toString('utf8').replace(/\0+$/, '') };
    const nul = p.indexOf(0);
    return { family: 'unix', addr: p.subarray(0, nul < 0 ? p.length : nul).toString('utf8') };
  }
  return { family: familyName(f) };
}

export function decodeNet(b: Buffer): NetRec {
  need(b, NET_REC_SIZE, 'net');
  const h = decodeHeader(b);
  const op = b.readUInt32LE(40);
  const addrLen = Math.min(b.readUInt32LE(56), ADDR_MAX);
  const base = { ...h, op, ret: b.readInt32LE(44), fd: b.readInt32LE(48) };
  if (op === NOP.LISTEN) {
    const f = b.readUInt16LE(52);
    const port = b.readUInt16LE(54);
    if (f === AF_INET && addrLen >= 4) return { ...base, family: 'inet', addr: formatIpv4(b, 64), port };
    if (f === AF_INET6 && addrLen >= 16) return { ...base, family: 'inet6', addr: formatIpv6(b, 64), port };
    return { ...base, family: f ? familyName(f) : 'unknown' };
  }
  return { ...base, ...parseSockaddr(b, 64, addrLen) };
}

export interface StdioRec extends RecHeader {
  fd: number;
  dir: 'read' | 'write';
  seq: number;
  /** Bytes the call moved. */
  len: number;
  off: number;
  flags: number;
  /** This piece's bytes: a view into the record, valid only while the record is. */
  data: Buffer;
}

export function decodeStdio(b: Buffer): StdioRec {
  need(b, STDIO_DATA_OFF, 'stdio');
  const h = decodeHeader(b);
  const size = b.readUInt32LE(64);
  if (STDIO_DATA_OFF + size > b.length)
    throw new RecordError(`stdio record says ${size} data bytes, has ${b.length - STDIO_DATA_OFF}`);
  return {
    ...h,
    fd: b.readUInt32LE(40),
    dir: b.readUInt32LE(44) ? 'write' : 'read',
    seq: Number(b.readBigUInt64LE(48)),
    len: b.readUInt32LE(56),
    off: b.readUInt32LE(60),
    flags: b.readUInt32LE(68),
    data: b.subarray(STDIO_DATA_OFF, STDIO_DATA_OFF + size),
  };
}

/** Decode the loss counters (struct loss_stats) of every CPU and sum them. */
export function sumLoss(perCpu: Buffer[]): { records: number; bytes: number; faults: number } {
  let records = 0n;
  let bytes = 0n;
  let faults = 0n;
  for (const v of perCpu) {
    records += v.readBigUInt64LE(0);
    bytes += v.readBigUInt64LE(8);
    faults += v.readBigUInt64LE(16);
  }
  return { records: Number(records), bytes: Number(bytes), faults: Number(faults) };
}
