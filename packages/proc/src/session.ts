// The runtime both as-proc and as-stdiocap share: start (or find) the processes to trace,
// load a BPF object whose programs keep the kernel-side tracked set (bpf/tracked.h), seed
// that set, read the ring buffer, report loss, and tear down.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type BpfMap,
  BpfObject,
  checkPrivileges,
  type Link,
  type RingReader,
  type RodataValue,
  raiseMemlock,
} from '@agentsight/bpf';
import { EXIT, ToolError } from '@agentsight/cli';
import { cgroupProcs } from '@agentsight/container';
import { type LostEvent, nowUs, SCHEMA_VERSION } from '@agentsight/events';
import { type Exit, type GatedChild, spawnGated } from '@agentsight/launch';
import { sumLoss } from './decode.js';
import { commWords, descendants, matchComm, processTable } from './procfs.js';

/** Where `make bpf` leaves the objects; AGENTSIGHT_BPF_DIR overrides (installed copies). */
export function bpfObjectPath(name: string): string {
  const dir = process.env.AGENTSIGHT_BPF_DIR;
  if (dir) return `${dir}/${name}`;
  return fileURLToPath(new URL(`../../../bpf/${name}`, import.meta.url));
}

export interface Targets {
  /** Trace these processes and their descendants. */
  pids?: number[];
  /** Trace processes with this comm (now, and whenever one execs) and their descendants. */
  comm?: string;
  /** Start this command gated, trace it and its descendants. */
  cmd?: string[];
  /** Processes someone else holds at a gate (agentsight exec): traced from their next exec on. */
  trackFromExec?: number[];
  /** Every process in this cgroup v2 (or below it), now and whenever one forks or execs there (a container target). */
  cgroup?: { id: number; level: number; dir: string };
}

export interface SessionOptions extends Targets {
  object: string;
  rodata?: Record<string, RodataValue>;
  ringMb?: number;
  onRecord: (rec: Buffer) => void;
  lostSrc: LostEvent['src'];
  onLost: (ev: LostEvent) => void;
  /** Where the --cmd child's stdout goes: a file descriptor (default: ours). */
  childStdout?: number;
  cwd?: string;
}

export type ChildExit = Exit;

/** bpf/tracked.h: tracked from the next exec on. */
const TRACK_AT_EXEC = 0xffffffff;

/**
 * Our process group when it is a job of its own (a shell with job control put our
 * pipeline in it: `as-stdiocap | as-merge`), else 0. Traced-everything mode leaves that
 * group out, or the next tools' reads of our output and what they write would be captured
 * and written again, without end. Run from a script, we share the script's group: leaving
 * it out would hide the script's other commands, so it is not.
 */
function ownJobPgid(): number {
  const pgrpOf = (pid: number | 'self') => {
    try {
      const t = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(t.slice(t.lastIndexOf(')') + 2).split(' ')[2]);
    } catch {
      return NaN;
    }
  };
  const mine = pgrpOf('self');
  if (!Number.isSafeInteger(mine) || mine <= 0) return 0;
  return pgrpOf(process.ppid) === mine ? 0 : mine;
}

export class TraceSession {
  readonly obj: BpfObject;
  readonly ring: RingReader;
  /** Processes that were already running and are traced: report them as `snapshot`s. */
  readonly existing: number[];
  readonly child?: GatedChild;
  readonly all: boolean;
  #links: Link[];
  #tracked: BpfMap;
  #stats: BpfMap;
  #lastLoss = { records: 0, bytes: 0, faults: 0 };
  #lossTimer: NodeJS.Timeout;
  #stopped = false;
  readonly #opts: SessionOptions;

  private constructor(
    opts: SessionOptions,
    obj: BpfObject,
    ring: RingReader,
    links: Link[],
    existing: number[],
    all: boolean,
    child?: GatedChild,
  ) {
    this.#opts = opts;
    this.obj = obj;
    this.ring = ring;
    this.#links = links;
    this.existing = existing;
    this.all = all;
    if (child) this.child = child;
    this.#tracked = obj.map('tracked');
    this.#stats = obj.map('stats');
    this.#lossTimer = setInterval(() => this.pollLoss(), 1000);
    this.#lossTimer.unref();
  }

  static start(opts: SessionOptions): TraceSession {
    checkPrivileges();
    raiseMemlock();
    if (!fs.existsSync(opts.object))
      throw new ToolError(`${opts.object}: BPF object missing (run 'make bpf')`, EXIT.FAILURE);
    const all = !opts.pids?.length && !opts.comm && !opts.cmd?.length && !opts.trackFromExec?.length && !opts.cgroup;
    let table = opts.pids?.length || opts.comm || opts.cgroup ? processTable() : undefined;
    for (const p of opts.pids ?? []) {
      if (!table!.has(p)) throw new ToolError(`-p ${p}: no such process`, EXIT.USAGE);
    }

    const [c0, c1] = opts.comm ? commWords(opts.comm) : [0n, 0n];
    const obj = BpfObject.open(opts.object, {
      rodata: {
        ...opts.rodata,
        targ_all: all,
        targ_comm0: c0,
        targ_comm1: c1,
        self_tgid: process.pid,
        self_pgid: all ? ownJobPgid() : 0,
        targ_cgroup: BigInt(opts.cgroup?.id ?? 0),
        targ_cgroup_level: opts.cgroup?.level ?? 0,
      },
    });
    let child: GatedChild | undefined;
    try {
      if (opts.ringMb) obj.setMapMaxEntries('events', opts.ringMb << 20);
      obj.load();
      const links = obj.programs().map((p) => obj.attach(p.name));
      const ring = obj.ringBuffer('events', opts.onRecord);
      const tracked = obj.map('tracked');
      const add = (pid: number, atExec = false) => {
        const k = Buffer.alloc(4);
        k.writeUInt32LE(pid);
        const v = Buffer.alloc(4);
        v.writeUInt32LE(atExec ? TRACK_AT_EXEC : pid);
        tracked.update(k, v);
      };

      const existing: number[] = [];
      if (opts.cmd?.length) {
        const [file, ...args] = opts.cmd;
        // Held at a gate until its pid is tracked (@agentsight/launch), so nothing it does is missed.
        child = spawnGated(file!, args, {
          ...(opts.childStdout !== undefined ? { stdout: opts.childStdout } : {}),
          ...(opts.cwd ? { cwd: opts.cwd } : {}),
        });
        // From its exec on: the gate shell's own reads (of the release) are not the command's.
        add(child.pid, true);
      }
      for (const pid of opts.trackFromExec ?? []) add(pid, true);
      if (table) {
        // Programs are attached, so forks of a process already in the set are caught by the
        // kernel; a second pass catches children forked while the first was being written.
        const roots = [
          ...(opts.pids ?? []),
          ...(opts.comm ? matchComm(table, opts.comm) : []),
          ...(opts.cgroup ? cgroupProcs(opts.cgroup.dir) : []),
        ].filter((p) => p !== process.pid);
        const seen = new Set<number>();
        for (let pass = 0; pass < 2; pass++) {
          for (const pid of descendants(table, roots)) {
            if (seen.has(pid) || pid === process.pid) continue;
            seen.add(pid);
            add(pid);
            existing.push(pid);
          }
          table = processTable();
        }
      } else if (all) {
        for (const [pid] of processTable()) if (pid !== process.pid) existing.push(pid);
      }
      const s = new TraceSession(opts, obj, ring, links, existing, all, child);
      child?.release();
      return s;
    } catch (e) {
      child?.child.kill('SIGKILL');
      obj.close();
      throw e;
    }
  }

  /** Is this pid in the kernel's tracked set now? */
  isTracked(pid: number): boolean {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(pid);
    return this.#tracked.lookup(k) !== null;
  }

  /** Report loss counted by the kernel since the last report. */
  pollLoss(): void {
    if (this.#stopped) return;
    const now = sumLoss(this.#stats.lookupPerCpu(Buffer.alloc(4)));
    const d = {
      records: now.records - this.#lastLoss.records,
      bytes: now.bytes - this.#lastLoss.bytes,
      faults: now.faults - this.#lastLoss.faults,
    };
    this.#lastLoss = now;
    if (d.records > 0 || d.faults > 0) {
      this.#opts.onLost({
        v: SCHEMA_VERSION,
        ts: nowUs(),
        src: this.#opts.lostSrc,
        type: 'lost',
        records: d.records,
        bytes: d.bytes,
        ...(d.faults ? { faults: d.faults } : {}),
      });
    }
  }

  /** Totals since start. */
  get loss(): { records: number; bytes: number; faults: number } {
    return { ...this.#lastLoss };
  }

  /** Detach, deliver what is in the ring, report the last loss, free everything. */
  stop(): void {
    if (this.#stopped) return;
    clearInterval(this.#lossTimer);
    for (const l of this.#links) l.destroy();
    try {
      this.ring.drain();
    } finally {
      this.pollLoss();
      this.#stopped = true;
      this.obj.close();
    }
  }
}
