import { classify } from '@agentsight/agents';
import { ContainerLookup } from '@agentsight/container';
import { type AgentEvent, monoToWallUs, type ProcEvent, SCHEMA_VERSION } from '@agentsight/events';
import {
  decodeExec,
  decodeExit,
  decodeFile,
  decodeHeader,
  decodeNet,
  type ExecRec,
  type ExitRec,
  type FileRec,
  FOP,
  type NetRec,
  NOP,
  REC,
  type RecHeader,
  RecordError,
} from './decode.js';
import { absolutise, foldGroup } from './paths.js';
import { bootTimeUs, CLK_TCK, type ProcInfo } from './procfs.js';

export interface ProcEventsOptions {
  /** Report /proc, /sys and dynamic-loader opens one by one instead of folding them. */
  allFiles?: boolean;
  /** Kernel monotonic ns to wall µs (default: the one shared conversion). */
  toWallUs?: (ns: bigint) => number;
  /** Where processes run (cgroup, container): the host's by default; a test's recorded one. */
  places?: ContainerLookup;
}

interface Live {
  comm: string;
  cwd?: string;
}

interface Fold {
  ts: number;
  tid: number;
  comm: string;
  flags: number;
  ret: number;
  count: number;
}

/**
 * Turns kernel records into `proc` events. Holds what the records alone do not say: the
 * last known cwd of each live process (for relative paths the kernel could not resolve),
 * the folded noisy opens (reported when their process exits, or at end), and the set of
 * live processes that `metrics` samples.
 */
export class ProcEvents {
  readonly live = new Map<number, Live>();
  #folds = new Map<number, Map<string, Fold>>();
  readonly #emit: (ev: AgentEvent) => void;
  readonly #allFiles: boolean;
  readonly #wall: (ns: bigint) => number;
  readonly #places: ContainerLookup;
  /** Records that did not decode (reported once on stderr by the caller). */
  malformed = 0;
  counts: Record<string, number> = {};

  constructor(emit: (ev: AgentEvent) => void, opts: ProcEventsOptions = {}) {
    this.#emit = emit;
    this.#allFiles = opts.allFiles ?? false;
    this.#wall = opts.toWallUs ?? monoToWallUs;
    this.#places = opts.places ?? new ContainerLookup();
  }

  #out(ev: ProcEvent): void {
    this.counts[ev.type] = (this.counts[ev.type] ?? 0) + 1;
    this.#emit(ev);
  }

  #base(h: RecHeader, type: string) {
    return {
      v: SCHEMA_VERSION,
      ts: this.#wall(h.ts),
      src: 'proc' as const,
      type,
      pid: h.pid,
      tid: h.tid,
      comm: h.comm,
    };
  }

  /** One ring buffer record. */
  record(b: Buffer): void {
    let kind: number;
    try {
      kind = decodeHeader(b).kind;
      switch (kind) {
        case REC.EXEC:
          return this.exec(decodeExec(b));
        case REC.FORK:
          return this.fork(decodeHeader(b));
        case REC.EXIT:
          return this.exit(decodeExit(b));
        case REC.FILE:
          return this.file(decodeFile(b));
        case REC.NET:
          return this.net(decodeNet(b));
        default:
          throw new RecordError(`unknown record kind ${kind}`);
      }
    } catch (e) {
      if (e instanceof RecordError || e instanceof RangeError) {
        this.malformed++;
        return;
      }
      throw e;
    }
  }

  /** Processes that existed at start, from /proc. */
  snapshot(p: ProcInfo): void {
    this.live.set(p.pid, { comm: p.comm, ...(p.cwd !== undefined ? { cwd: p.cwd } : {}) });
    const boot = bootTimeUs();
    const agent = classify({ ...(p.filename !== undefined ? { exe: p.filename } : {}), argv: p.argv, comm: p.comm });
    this.#out({
      v: SCHEMA_VERSION,
      ts: Math.round(performance.timeOrigin * 1000 + performance.now() * 1000),
      src: 'proc',
      type: 'snapshot',
      pid: p.pid,
      ppid: p.ppid,
      comm: p.comm,
      argv: p.argv,
      ...(p.uid !== undefined ? { uid: p.uid } : {}),
      ...(p.filename !== undefined ? { filename: p.filename } : {}),
      ...(p.cwd !== undefined ? { cwd: p.cwd } : {}),
      ...(boot ? { start_ts: Math.round(boot + (p.starttime / CLK_TCK) * 1e6) } : {}),
      ...(agent ? { agent } : {}),
      ...this.#places.of(p.pid),
    });
  }

  exec(r: ExecRec): void {
    const prev = this.live.get(r.pid);
    const cwd = r.cwd ?? prev?.cwd;
    this.live.set(r.pid, { comm: r.comm, ...(cwd !== undefined ? { cwd } : {}) });
    const agent = classify({ exe: r.filename, argv: r.argv, comm: r.comm });
    this.#out({
      ...this.#base(r, 'exec'),
      type: 'exec',
      ppid: r.ppid,
      uid: r.uid,
      filename: r.filename,
      argv: r.argv,
      ...(r.cwd !== undefined ? { cwd: r.cwd } : {}),
      ...(r.argvTruncated ? { argv_truncated: true } : {}),
      // exec from a non-leader thread changes the pid of the caller to the leader's.
      ...(r.oldPid !== r.pid ? { old_tid: r.oldPid } : {}),
      ...(agent ? { agent } : {}),
      // Read now, while the process lives: a short one may be gone already (then nothing).
      ...this.#places.of(r.pid),
    });
  }

  fork(h: RecHeader): void {
    const parent = this.live.get(h.ppid);
    this.live.set(h.pid, { comm: h.comm, ...(parent?.cwd !== undefined ? { cwd: parent.cwd } : {}) });
    this.#out({ ...this.#base(h, 'fork'), type: 'fork', ppid: h.ppid });
  }

  exit(r: ExitRec): void {
    this.#flushFolds(r.pid);
    this.live.delete(r.pid);
    const sig = r.status & 0x7f;
    this.#out({
      ...this.#base(r, 'exit'),
      type: 'exit',
      ppid: r.ppid,
      ...(sig ? { signal: sig } : { exit_code: (r.status >> 8) & 0xff }),
      ...(r.status & 0x80 ? { core_dumped: true } : {}),
      duration_ms: Math.round(Number(r.durationNs) / 1e3) / 1e3,
      cpu_ms: Math.round(Number(r.cpuNs) / 1e3) / 1e3,
      maxrss_kb: r.maxrssKb,
    });
  }

  file(r: FileRec): void {
    const cwd = this.live.get(r.pid)?.cwd;
    const p1 = absolutise(r.p1, cwd);
    if (r.op === FOP.OPEN) {
      const group = this.#allFiles ? null : foldGroup(p1, r.flags);
      if (group !== null) {
        let m = this.#folds.get(r.pid);
        if (!m) this.#folds.set(r.pid, (m = new Map()));
        const f = m.get(group);
        if (f) f.count++;
        else m.set(group, { ts: this.#wall(r.ts), tid: r.tid, comm: r.comm, flags: r.flags, ret: r.ret, count: 1 });
        return;
      }
      this.#out({ ...this.#base(r, 'open'), type: 'open', path: p1, flags: r.flags, ret: r.ret });
      return;
    }
    if (r.op === FOP.UNLINK) {
      this.#out({
        ...this.#base(r, 'unlink'),
        type: 'unlink',
        path: p1,
        ret: r.ret,
        ...(r.flags ? { flags: r.flags } : {}),
      });
      return;
    }
    if (r.op === FOP.RENAME && r.p2) {
      this.#out({
        ...this.#base(r, 'rename'),
        type: 'rename',
        path: p1,
        to: absolutise(r.p2, cwd),
        ret: r.ret,
        ...(r.flags ? { flags: r.flags } : {}),
      });
    }
  }

  net(r: NetRec): void {
    const type = r.op === NOP.CONNECT ? 'connect' : r.op === NOP.BIND ? 'bind' : 'listen';
    this.#out({
      ...this.#base(r, type),
      type,
      family: r.family,
      ret: r.ret,
      fd: r.fd,
      ...(r.addr !== undefined ? { addr: r.addr } : {}),
      ...(r.port !== undefined ? { port: r.port } : {}),
    });
  }

  #flushFolds(pid: number): void {
    const m = this.#folds.get(pid);
    if (!m) return;
    this.#folds.delete(pid);
    for (const [group, f] of m) {
      this.#out({
        v: SCHEMA_VERSION,
        ts: f.ts,
        src: 'proc',
        type: 'open',
        pid,
        tid: f.tid,
        comm: f.comm,
        path: group,
        flags: f.flags,
        ret: f.ret,
        count: f.count,
        folded: true,
      });
    }
  }

  /** End of capture: report what is still folded. */
  end(): void {
    for (const pid of [...this.#folds.keys()]) this.#flushFolds(pid);
  }
}
