// /proc readers: the processes that exist when a tool starts (snapshot, seeding the
// kernel's tracked set) and periodic metrics. Every read tolerates the process having
// exited in between: /proc is a moving target.
import fs from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Clock ticks of CPU in user and kernel mode. */
  utime: number;
  stime: number;
  threads: number;
  /** Clock ticks after boot. */
  starttime: number;
  /** Resident pages. */
  rss: number;
}

/** Parse /proc/PID/stat. The comm field is in parentheses and may hold spaces and ")". */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const f = (n: number) => Number(rest[n - 3]);
  if (!Number.isFinite(pid) || rest.length < 22) return null;
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0]!,
    ppid: f(4),
    utime: f(14),
    stime: f(15),
    threads: f(20),
    starttime: f(22),
    rss: f(24),
  };
}

function read(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

function readlink(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

export function listPids(root = '/proc'): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync(root)) {
    if (/^[0-9]+$/.test(name)) out.push(Number(name));
  }
  return out;
}

export function readStat(pid: number, root = '/proc'): ProcStat | null {
  const t = read(`${root}/${pid}/stat`);
  return t === null ? null : parseStat(t);
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  uid?: number;
  argv: string[];
  filename?: string;
  cwd?: string;
  /** Clock ticks after boot. */
  starttime: number;
}

export function readInfo(pid: number, root = '/proc'): ProcInfo | null {
  const st = readStat(pid, root);
  if (!st) return null;
  const status = read(`${root}/${pid}/status`) ?? '';
  const uid = /^Uid:\s+(\d+)/m.exec(status);
  const cmdline = read(`${root}/${pid}/cmdline`) ?? '';
  const argv = cmdline === '' ? [] : cmdline.replace(/\0$/, '').split('\0');
  const info: ProcInfo = { pid, ppid: st.ppid, comm: st.comm, argv, starttime: st.starttime };
  if (uid) info.uid = Number(uid[1]);
  const exe = readlink(`${root}/${pid}/exe`);
  if (exe !== undefined) info.filename = exe;
  const cwd = readlink(`${root}/${pid}/cwd`);
  if (cwd !== undefined) info.cwd = cwd;
  return info;
}

/** pid -> ppid for every process now. */
export function processTable(root = '/proc'): Map<number, ProcStat> {
  const t = new Map<number, ProcStat>();
  for (const pid of listPids(root)) {
    const st = readStat(pid, root);
    if (st) t.set(pid, st);
  }
  return t;
}

/** The given roots and all their descendants, parents before children. */
export function descendants(table: Map<number, { ppid: number }>, roots: Iterable<number>): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, st] of table) {
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out: number[] = [];
  const seen = new Set<number>();
  const queue = [...roots].filter((p) => table.has(p));
  while (queue.length) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(p);
    for (const c of children.get(p) ?? []) queue.push(c);
  }
  return out;
}

/** The kernel truncates comm to 15 bytes; compare the way the kernel side does. */
export function commKey(comm: string): string {
  return Buffer.from(comm, 'utf8').subarray(0, 15).toString('latin1');
}

export function matchComm(table: Map<number, ProcStat>, comm: string): number[] {
  const want = commKey(comm);
  const out: number[] = [];
  for (const [pid, st] of table) if (commKey(st.comm) === want) out.push(pid);
  return out;
}

/** The 16-byte comm as the two little-endian words bpf/tracked.h compares against. */
export function commWords(comm: string): [bigint, bigint] {
  const b = Buffer.alloc(16);
  Buffer.from(comm, 'utf8').subarray(0, 15).copy(b);
  return [b.readBigUInt64LE(0), b.readBigUInt64LE(8)];
}

let bootUs: number | undefined;
/** Wall-clock µs of boot, from /proc/stat btime (seconds: enough for a start time). */
export function bootTimeUs(): number {
  if (bootUs === undefined) {
    const m = /^btime\s+(\d+)/m.exec(read('/proc/stat') ?? '');
    bootUs = m ? Number(m[1]) * 1e6 : 0;
  }
  return bootUs;
}

/** USER_HZ: 100 on every Linux ABI Node runs on. */
export const CLK_TCK = 100;

export interface MetricsSample {
  pid: number;
  comm: string;
  cpu_pct: number;
  rss_kb: number;
  threads: number;
}

/**
 * CPU % over the interval between two calls (first call per pid: since it started),
 * resident set and threads, for each pid still alive.
 */
export class MetricsSampler {
  #last = new Map<number, { ticks: number; at: number }>();
  readonly #pageKb: number;

  constructor(
    readonly root = '/proc',
    pageSize = 4096,
  ) {
    this.#pageKb = pageSize / 1024;
  }

  sample(pids: Iterable<number>, nowMs = performance.now()): MetricsSample[] {
    const out: MetricsSample[] = [];
    const alive = new Set<number>();
    for (const pid of pids) {
      const st = readStat(pid, this.root);
      if (!st || st.state === 'Z') continue;
      alive.add(pid);
      const ticks = st.utime + st.stime;
      const prev = this.#last.get(pid);
      let pct: number;
      if (prev && nowMs > prev.at) {
        pct = ((ticks - prev.ticks) / CLK_TCK / ((nowMs - prev.at) / 1000)) * 100;
      } else {
        const upSec = Number((read('/proc/uptime') ?? '0').split(' ')[0]);
        const lifeSec = upSec - st.starttime / CLK_TCK;
        pct = lifeSec > 0 ? (ticks / CLK_TCK / lifeSec) * 100 : 0;
      }
      this.#last.set(pid, { ticks, at: nowMs });
      out.push({
        pid,
        comm: st.comm,
        cpu_pct: Math.round(Math.max(0, pct) * 10) / 10,
        rss_kb: st.rss * this.#pageKb,
        threads: st.threads,
      });
    }
    for (const pid of this.#last.keys()) if (!alive.has(pid)) this.#last.delete(pid);
    return out;
  }
}
