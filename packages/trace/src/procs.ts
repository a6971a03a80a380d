// The process tree as the proc events describe it, with what each process touched.
// Bounded: a fixed number of processes (exited ones go first), a fixed number of files
// and connections per process, exited processes forgotten after a retention time.
import type { AgentEvent } from '@agentsight/events';
import { isWriteOpen } from './paths.js';

export interface FileUse {
  path: string;
  /** 'r', 'w' (opened for writing), 'rename' (to `to`), 'unlink'. */
  op: 'r' | 'w' | 'rename' | 'unlink';
  to?: string;
  ret: number;
  ts: number;
}

export interface NetUse {
  type: string;
  family: string;
  addr?: string;
  port?: number;
  ret: number;
  ts: number;
}

export interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  argv: string[];
  filename?: string;
  cwd?: string;
  /** When it was forked (or first exec'd/seen), µs. */
  start: number;
  end?: number;
  exitCode?: number;
  signal?: number;
  files: FileUse[];
  /** Files and connections not kept once the caps were reached. */
  dropped: number;
  net: NetUse[];
  /** Bytes the process wrote to stdout/stderr (head only), for matching tool output. */
  out: string;
  /** The tool call (link key) this process was attributed to. */
  owner?: string;
}

export interface ProcLimits {
  maxProcs: number;
  maxFilesPerProc: number;
  maxNetPerProc: number;
  maxOutBytes: number;
  /** Exited processes are forgotten this long after their exit, µs. */
  retentionUs: number;
}

export const DEFAULT_PROC_LIMITS: ProcLimits = {
  maxProcs: 20_000,
  maxFilesPerProc: 64,
  maxNetPerProc: 32,
  maxOutBytes: 4096,
  retentionUs: 15 * 60 * 1_000_000,
};

export class ProcTable {
  readonly procs = new Map<number, Proc>();
  /** ppid -> pids: walking a tree costs its size, not the table's. */
  readonly #children = new Map<number, Set<number>>();
  constructor(private readonly lim: ProcLimits = DEFAULT_PROC_LIMITS) {}

  get(pid: number): Proc | undefined {
    return this.procs.get(pid);
  }

  children(pid: number): Proc[] {
    const out: Proc[] = [];
    for (const c of this.#children.get(pid) ?? []) {
      const p = this.procs.get(c);
      if (p) out.push(p);
    }
    return out;
  }

  #setParent(p: Proc, ppid: number): void {
    if (p.ppid === ppid && this.#children.get(ppid)?.has(p.pid)) return;
    this.#unparent(p);
    p.ppid = ppid;
    if (!ppid) return;
    let s = this.#children.get(ppid);
    if (!s) {
      s = new Set();
      this.#children.set(ppid, s);
    }
    s.add(p.pid);
  }

  #unparent(p: Proc): void {
    const s = this.#children.get(p.ppid);
    if (s) {
      s.delete(p.pid);
      if (!s.size) this.#children.delete(p.ppid);
    }
  }

  #delete(pid: number): void {
    const p = this.procs.get(pid);
    if (!p) return;
    this.#unparent(p);
    this.procs.delete(pid);
  }

  #create(pid: number, ppid: number, comm: string, ts: number): Proc {
    const p: Proc = { pid, ppid: 0, comm, argv: [], start: ts, files: [], dropped: 0, net: [], out: '' };
    this.#delete(pid);
    this.procs.set(pid, p);
    this.#setParent(p, ppid);
    if (this.procs.size > this.lim.maxProcs) this.#evict();
    return p;
  }

  #evict(): void {
    // Oldest exited first; when every process is alive, the oldest of all.
    for (const [pid, p] of this.procs) {
      if (p.end !== undefined) {
        this.#delete(pid);
        if (this.procs.size <= this.lim.maxProcs) return;
      }
    }
    for (const pid of this.procs.keys()) {
      this.#delete(pid);
      if (this.procs.size <= this.lim.maxProcs) return;
    }
  }

  /** A process we have no fork/exec for (it started before the capture): a stub. */
  #ensure(pid: number, comm: string | undefined, ts: number): Proc {
    const p = this.procs.get(pid);
    if (p && p.end === undefined) return p;
    return this.#create(pid, 0, comm ?? '', ts);
  }

  /** Apply one proc or stdio event; returns the process it concerned, if any. */
  apply(ev: AgentEvent): Proc | undefined {
    if (ev.src === 'stdio' && ev.type === 'data') {
      if (ev.dir !== 'write' || ev.fd === 0) return undefined;
      const p = this.procs.get(ev.pid);
      if (!p || p.out.length >= this.lim.maxOutBytes) return p;
      const text = ev.enc === 'utf8' ? ev.data : Buffer.from(ev.data, 'base64').toString('utf8');
      p.out += text.slice(0, this.lim.maxOutBytes - p.out.length);
      return p;
    }
    if (ev.src !== 'proc') return undefined;
    switch (ev.type) {
      case 'fork': {
        const parent = this.procs.get(ev.ppid);
        const p = this.#create(ev.pid, ev.ppid, ev.comm, ev.ts);
        if (parent) {
          p.argv = parent.argv;
          p.filename = parent.filename;
          p.cwd = parent.cwd;
        }
        return p;
      }
      case 'exec': {
        let p = this.procs.get(ev.pid);
        if (!p || p.end !== undefined) p = this.#create(ev.pid, ev.ppid, ev.comm, ev.ts);
        if (ev.ppid) this.#setParent(p, ev.ppid);
        p.comm = ev.comm;
        p.argv = ev.argv;
        p.filename = ev.filename;
        if (ev.cwd) p.cwd = ev.cwd;
        return p;
      }
      case 'snapshot': {
        const p = this.#create(ev.pid, ev.ppid, ev.comm, ev.start_ts ?? ev.ts);
        p.argv = ev.argv;
        if (ev.filename) p.filename = ev.filename;
        if (ev.cwd) p.cwd = ev.cwd;
        return p;
      }
      case 'exit': {
        const p = this.procs.get(ev.pid);
        if (!p) return undefined;
        p.end = ev.ts;
        if (ev.exit_code !== undefined) p.exitCode = ev.exit_code;
        if (ev.signal !== undefined) p.signal = ev.signal;
        return p;
      }
      case 'open': {
        const p = this.#ensure(ev.pid, ev.comm, ev.ts);
        if (ev.folded) return p;
        this.#file(p, { path: ev.path, op: isWriteOpen(ev.flags) ? 'w' : 'r', ret: ev.ret, ts: ev.ts });
        return p;
      }
      case 'rename':
      case 'unlink': {
        const p = this.#ensure(ev.pid, ev.comm, ev.ts);
        this.#file(p, { path: ev.path, op: ev.type, ...(ev.to ? { to: ev.to } : {}), ret: ev.ret, ts: ev.ts });
        return p;
      }
      case 'connect':
      case 'bind':
      case 'listen': {
        const p = this.#ensure(ev.pid, ev.comm, ev.ts);
        if (p.net.length >= this.lim.maxNetPerProc) {
          p.dropped++;
          return p;
        }
        p.net.push({
          type: ev.type,
          family: ev.family,
          ...(ev.addr !== undefined ? { addr: ev.addr } : {}),
          ...(ev.port !== undefined ? { port: ev.port } : {}),
          ret: ev.ret,
          ts: ev.ts,
        });
        return p;
      }
    }
    return undefined;
  }

  #file(p: Proc, f: FileUse): void {
    // The same file opened again the same way adds nothing.
    if (p.files.some((x) => x.path === f.path && x.op === f.op && x.to === f.to)) return;
    if (p.files.length >= this.lim.maxFilesPerProc) {
      p.dropped++;
      return;
    }
    p.files.push(f);
  }

  /** Whether `pid` is `anc` or below it. */
  isUnder(pid: number, anc: number): boolean {
    let cur = pid;
    for (let i = 0; i < 128; i++) {
      if (cur === anc) return true;
      const p = this.procs.get(cur);
      if (!p?.ppid || p.ppid === cur) return false;
      cur = p.ppid;
    }
    return false;
  }

  /** `root` and every known process below it, root first, breadth first. */
  subtree(root: number): Proc[] {
    const r = this.procs.get(root);
    if (!r) return [];
    const out: Proc[] = [r];
    const seen = new Set([root]);
    for (let i = 0; i < out.length; i++) {
      for (const c of this.children(out[i]!.pid))
        if (!seen.has(c.pid)) {
          seen.add(c.pid);
          out.push(c);
        }
    }
    return out;
  }

  /** Forget processes that exited longer ago than the retention time. */
  prune(nowUs: number): void {
    for (const [pid, p] of this.procs) {
      if (p.end !== undefined && nowUs - p.end > this.lim.retentionUs) this.#delete(pid);
    }
  }
}
