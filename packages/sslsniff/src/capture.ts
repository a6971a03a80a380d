// The capture itself: load bpf/sslsniff.bpf.o with the filters, attach the probe pairs
// to every TLS function of every target, and turn ring records into events. Used by
// as-sslsniff and by `agentsight exec`.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BpfObject, type Link, type RingReader, uprobeMultiSupported } from '@agentsight/bpf';
import { ContainerLookup } from '@agentsight/container';
import { type LostEvent, nowUs, SCHEMA_VERSION, type SslAttachEvent, type SslEvent } from '@agentsight/events';
import { Assembler, type AssemblerStats, type SslDataHead } from './assemble.js';
import { Discovery, type DiscoveryStats, isMapRecord, type MapRecord } from './discover.js';
import { probeFor } from './probes.js';
import { type KernelStats, STATS_FIELDS, sumStats } from './record.js';
import type { TlsTarget } from './targets.js';

export const DEFAULT_MAX_CALL_BYTES = 64 << 20;
export const DEFAULT_RING_BYTES = 64 << 20;
export const DEFAULT_FLUSH_MS = 10;
/** The socket tracepoints that learn each connection's socket fd (see the BPF source). */
const SOCKET_PROGS = ['tls_sock_send', 'tls_sock_recv'];
/** The program that reports execs of program files we have not looked at (discover.ts). */
const WATCH_PROG = 'tls_exec_watch';

/** Where the compiled BPF object is: $AGENTSIGHT_BPF_DIR, else bpf/ at the repository root. */
export function defaultObjectPath(name = 'sslsniff.bpf.o'): string {
  const dir =
    process.env.AGENTSIGHT_BPF_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bpf');
  return path.join(dir, name);
}

export interface SnifferOptions {
  targets: TlsTarget[];
  /** Only this process (kernel filter on the thread group, and per-process uprobes). */
  pid?: number;
  /** Only processes with this name (the process's, not the thread's). */
  comm?: string;
  /**
   * Only processes in this kernel-maintained set: the fd of a proc session's `tracked` map
   * (bpf/tracked.h), kept on fork/exec/exit, so the agent's whole tree is captured, children
   * that relaunch it included. Uprobes are then attached for every process (the BPF filter
   * decides); combine with `pid` only to narrow it further.
   */
  trackedMapFd?: number;
  /**
   * Attach with uprobe_multi links (Linux 6.6+; ignored before): one link per program and
   * file instead of one per function, so detaching takes one RCU grace period per link
   * rather than one per function, serialised (seconds, with a few dozen functions).
   */
  uprobeMulti?: boolean;
  uid?: number;
  /**
   * Follow programs executed from now on by the processes the filters select: each new
   * program file is looked at once and its TLS hooked, by file (discover.ts).
   */
  discover?: {
    /** Hold a process stopped while its new file is looked at, unless a job-control shell may see it (default true). */
    hold?: boolean;
    /** With trackedMapFd: processes that exec a program of this name, before they join the set. */
    watchComm?: string;
    /** Processes not captured (--allow/--deny): what they run is not looked at for them. */
    skip?: (m: MapRecord) => boolean;
  };
  /** Bytes captured per call at most; the rest is counted and the event marked truncated. */
  maxCallBytes?: number;
  /** Ring buffer size in bytes (rounded up to a power of two). */
  ringBytes?: number;
  objectPath?: string;
  emit: (ev: SslEvent) => void;
  /** Data events as head and bytes instead (see AssemblerOptions.emitData). */
  emitData?: (head: SslDataHead, bytes: Buffer) => void;
  /** Before every connection id (AssemblerOptions.connPrefix). */
  connPrefix?: string;
  warn?: (msg: string) => void;
  info?: (msg: string) => void;
  /** Bytes consumed per event-loop turn before yielding. */
  batchBytes?: number;
  /**
   * Latency bound: records are taken at least this often (ms). The kernel wakes the
   * consumer early only once 256 KiB are waiting; 0 = wake on every record.
   */
  flushMs?: number;
}

function pow2(n: number): number {
  let p = 4096;
  while (p < n) p *= 2;
  return p;
}

export class SslSniffer {
  readonly obj: BpfObject;
  readonly assembler: Assembler;
  #ring: RingReader | undefined;
  #links: Link[] = [];
  #lastStats: KernelStats;
  readonly ringBytes: number;
  readonly maxCallBytes: number;
  /** Probes go on as uprobe_multi links (see SnifferOptions.uprobeMulti). */
  readonly multi: boolean;
  attached: SslAttachEvent[] = [];

  constructor(private readonly opts: SnifferOptions) {
    this.maxCallBytes = opts.maxCallBytes ?? DEFAULT_MAX_CALL_BYTES;
    this.ringBytes = pow2(opts.ringBytes ?? DEFAULT_RING_BYTES);
    const kernelComm = (c: string) => {
      if (Buffer.byteLength(c) <= 15) return c;
      // The kernel keeps 15 bytes of a process name.
      const cut = Buffer.from(c).subarray(0, 15).toString('utf8');
      opts.warn?.(`process names are at most 15 bytes in the kernel; matching "${cut}"`);
      return cut;
    };
    const comm = kernelComm(opts.comm ?? '');
    const watchComm = opts.discover?.watchComm ? kernelComm(opts.discover.watchComm) : '';
    this.multi = !!opts.uprobeMulti && uprobeMultiSupported();
    const open = (socketFds: boolean): BpfObject => {
      const obj = BpfObject.open(opts.objectPath ?? defaultObjectPath(), {
        rodata: {
          self_tgid: process.pid,
          targ_tgid: opts.pid ?? 0,
          targ_uid: opts.uid ?? 0xffffffff,
          targ_comm: comm,
          targ_tracked: opts.trackedMapFd !== undefined,
          max_call_bytes: BigInt(this.maxCallBytes),
          wakeup_bytes: BigInt(opts.flushMs === 0 ? 0 : 256 << 10),
          hold_unknown: !!opts.discover && opts.discover.hold !== false,
          watch_comm: watchComm,
        },
      });
      try {
        for (const p of SOCKET_PROGS) if (!socketFds) obj.setAutoload(p, false);
        if (!opts.discover) {
          obj.setAutoload(WATCH_PROG, false);
          obj.setMapMaxEntries('known', 1);
        }
        if (this.multi)
          for (const p of obj.programs())
            if (!SOCKET_PROGS.includes(p.name) && p.name !== WATCH_PROG) obj.setUprobeMulti(p.name);
        obj.setMapMaxEntries('events', this.ringBytes);
        // Unused without the shared set: a one-entry map instead of a preallocated 64k.
        if (opts.trackedMapFd !== undefined) obj.reuseMap('tracked', opts.trackedMapFd);
        else obj.setMapMaxEntries('tracked', 1);
        obj.load();
        return obj;
      } catch (e) {
        obj.close();
        throw e;
      }
    };
    try {
      this.obj = open(true);
    } catch (e) {
      // A kernel without the socket tracepoints (before 6.4) refuses their programs, and a
      // failed object cannot be loaded again: capture without them, events without fds.
      this.obj = open(false);
      this.#socketFds = false;
      opts.warn?.(`socket fds will not be reported: ${(e as Error).message}`);
    }
    this.assembler = new Assembler((ev) => opts.emit(ev), {
      ...(opts.emitData ? { emitData: opts.emitData } : {}),
      ...(opts.connPrefix ? { connPrefix: opts.connPrefix } : {}),
    });
    this.#lastStats = this.kernelStats();
    if (opts.discover) {
      const known = this.obj.map('known');
      const one = Buffer.from([1]);
      this.discovery = new Discovery({
        attach: (t, pid) => this.attachTarget(t, pid),
        markKnown: (key) => known.update(key, one),
        ...(opts.discover.skip ? { skip: opts.discover.skip } : {}),
        ...(opts.info ? { info: opts.info } : {}),
      });
    }
  }

  /** Set with SnifferOptions.discover. */
  readonly discovery: Discovery | undefined;
  #watching = false;

  /** Start following execs, after the targets given at start are attached; warns when the kernel refuses. */
  #attachWatch(): void {
    if (!this.discovery || this.#watching) return;
    this.#watching = true;
    try {
      this.#links.push(this.obj.attach(WATCH_PROG));
    } catch (e) {
      this.opts.warn?.(`programs started from now on will not be followed: ${(e as Error).message}`);
    }
  }

  get discoveryStats(): DiscoveryStats | undefined {
    return this.discovery?.stats;
  }

  /**
   * Attach to every hooked function of every target given at construction; emits one
   * `attach` event per function. A function that fails to attach is reported and skipped;
   * returns how many attached.
   */
  attach(): number {
    let n = 0;
    for (const t of this.opts.targets) n += this.attachTarget(t);
    this.#attachWatch();
    return n;
  }

  #seen = new Set<string>();
  /** The socket programs are loaded; false once attached (or given up). */
  #socketFds = true;

  /** Before the uprobes, so the first calls already learn their sockets. Optional: without
   * it events simply carry no fd. */
  #attachSocketProg(): void {
    if (!this.#socketFds) return;
    this.#socketFds = false;
    try {
      for (const p of SOCKET_PROGS) this.#links.push(this.obj.attach(p));
    } catch (e) {
      this.opts.warn?.(`socket fds will not be reported: ${(e as Error).message}`);
    }
  }

  /**
   * Attach to one more target, e.g. a library a new process has loaded. A function already
   * hooked (same file, by device and inode, same offset) is skipped: a second pair would
   * double the trap cost of every call and report nothing more. Returns how many
   * functions were newly hooked.
   */
  attachTarget(t: TlsTarget, pid?: number): number {
    this.#attachSocketProg();
    if (t.lib === 'rustls') this.#rustlsProcess(pid ?? this.opts.pid);
    let n = 0;
    let size = 0;
    let fileKey = t.path;
    try {
      const st = fs.statSync(t.path);
      size = st.size;
      fileKey = `${st.dev}:${st.ino}`;
    } catch {
      /* the attach reports it */
    }
    if (size > 100 << 20 && t.symbols.some((s) => !this.#seen.has(`${fileKey}@${s.offset}`)))
      this.opts.info?.(
        `attaching to ${t.path} (${Math.round(size / (1 << 20))} MB); large binaries take a few seconds`,
      );
    if (this.multi) return this.#attachMulti(t, fileKey, pid);
    for (const s of t.symbols) {
      const p = probeFor(s.name, t.lib);
      if (!p) continue;
      const key = `${fileKey}@${s.offset}`;
      if (this.#seen.has(key)) continue;
      const links: Link[] = [];
      try {
        const common = { path: t.path, offset: s.offset, cookie: p.cookie, pid: this.opts.pid };
        links.push(this.obj.attachUprobe(p.enter, common));
        if (p.atReturns) {
          if (!s.returns?.length) throw new Error('no return instructions located');
          for (const offset of s.returns) links.push(this.obj.attachUprobe(p.exit!, { ...common, offset }));
        } else if (p.exit) {
          links.push(this.obj.attachUprobe(p.exit, { ...common, retprobe: true }));
        }
        this.#links.push(...links);
      } catch (e) {
        for (const l of links) l.destroy();
        this.opts.warn?.(`${t.path}: ${s.name}: ${(e as Error).message}`);
        continue;
      }
      this.#seen.add(key);
      n++;
      this.#attachedEvent(t, s, pid);
    }
    return n;
  }

  /**
   * rustls is hooked: the socket tracepoints start looking processes up (aead_on), and a
   * process known to run it has its socket reads followed before its first record (the
   * server's first encrypted records arrive with the plaintext ServerHello).
   */
  #rustlsProcess(pid: number | undefined): void {
    try {
      const one = Buffer.alloc(4);
      one.writeUInt32LE(1);
      this.obj.map('aead_on').update(Buffer.alloc(4), one);
      if (pid) {
        const k = Buffer.alloc(4);
        k.writeUInt32LE(pid);
        this.obj.map('aead_procs').update(k, Buffer.from([1]));
      }
    } catch (e) {
      this.opts.warn?.(`rustls: ${(e as Error).message}`);
    }
  }

  /** Where a process we hook for runs (its container), asked once per cgroup. */
  readonly #places = new ContainerLookup();

  /** `pid`: the process the file was hooked for (exec-following); its container goes on the event. */
  #attachedEvent(t: TlsTarget, s: TlsTarget['symbols'][number], pid?: number): void {
    const ev: SslAttachEvent = {
      v: SCHEMA_VERSION,
      ts: nowUs(),
      src: 'ssl',
      type: 'attach',
      lib: t.lib,
      path: t.path,
      symbol: s.name,
      offset: s.offset,
      method: s.method,
    };
    if (this.opts.pid) ev.pid = this.opts.pid;
    const container = pid ? this.#places.of(pid)?.container : undefined;
    if (container) ev.container = container;
    this.attached.push(ev);
    this.opts.emit(ev);
  }

  /**
   * attachTarget with uprobe_multi: the functions sharing a program pair share two links
   * (the exit link's offsets are the return instructions for probes placed atReturns).
   */
  #attachMulti(t: TlsTarget, fileKey: string, forPid?: number): number {
    const groups = new Map<
      string,
      {
        enter: string;
        exit: string | undefined;
        atReturns: boolean;
        syms: Array<{ s: TlsTarget['symbols'][number]; cookie: number }>;
      }
    >();
    for (const s of t.symbols) {
      const p = probeFor(s.name, t.lib);
      if (!p || this.#seen.has(`${fileKey}@${s.offset}`)) continue;
      if (p.atReturns && !s.returns?.length) {
        this.opts.warn?.(`${t.path}: ${s.name}: no return instructions located`);
        continue;
      }
      const g = groups.get(p.enter) ?? { enter: p.enter, exit: p.exit, atReturns: !!p.atReturns, syms: [] };
      if (g.syms.some((x) => x.s.offset === s.offset)) continue;
      g.syms.push({ s, cookie: p.cookie });
      groups.set(p.enter, g);
    }
    let n = 0;
    for (const g of groups.values()) {
      const pid = this.opts.pid ? { pid: this.opts.pid } : {};
      const enter = {
        path: t.path,
        offsets: g.syms.map((x) => x.s.offset),
        cookies: g.syms.map((x) => x.cookie),
        ...pid,
      };
      const exit = g.atReturns
        ? {
            path: t.path,
            offsets: g.syms.flatMap((x) => x.s.returns ?? []),
            cookies: g.syms.flatMap((x) => (x.s.returns ?? []).map(() => x.cookie)),
            ...pid,
          }
        : { ...enter, retprobe: true };
      try {
        const a = this.obj.attachUprobeMulti(g.enter, enter);
        try {
          if (g.exit) this.#links.push(a, this.obj.attachUprobeMulti(g.exit, exit));
          else this.#links.push(a);
        } catch (e) {
          a.destroy();
          throw e;
        }
      } catch (e) {
        this.opts.warn?.(`${t.path}: ${g.syms.map((x) => x.s.name).join(', ')}: ${(e as Error).message}`);
        continue;
      }
      for (const { s } of g.syms) {
        this.#seen.add(`${fileKey}@${s.offset}`);
        n++;
        this.#attachedEvent(t, s, forPid);
      }
    }
    return n;
  }

  /** Start consuming the ring buffer on the event loop. */
  start(): void {
    const flushMs = this.opts.flushMs ?? DEFAULT_FLUSH_MS;
    const d = this.discovery;
    this.#ring = this.obj.ringBuffer(
      'events',
      d ? (rec) => (isMapRecord(rec) ? d.handle(rec) : this.assembler.push(rec)) : (rec) => this.assembler.push(rec),
      { view: true, batchBytes: this.opts.batchBytes, pollMs: flushMs === 0 ? 200 : flushMs, busyPollMs: flushMs },
    );
  }

  pause(): void {
    this.#ring?.pause();
  }
  resume(): void {
    this.#ring?.resume();
  }
  get ring(): RingReader | undefined {
    return this.#ring;
  }

  kernelStats(): KernelStats {
    return sumStats(this.obj.map('stats').lookupPerCpu(Buffer.alloc(4)));
  }

  /** Emit a `lost` event for drops and faults since the last call; returns the current counters. */
  reportLoss(): KernelStats {
    const s = this.kernelStats();
    const d = Object.fromEntries(STATS_FIELDS.map((f) => [f, s[f] - this.#lastStats[f]])) as unknown as KernelStats;
    this.#lastStats = s;
    if (d.dropRecords || d.dropBytes || d.faults) {
      const ev: LostEvent = {
        v: SCHEMA_VERSION,
        ts: nowUs(),
        src: 'ssl',
        type: 'lost',
        records: d.dropRecords,
        bytes: d.dropBytes,
        faults: d.faults,
      };
      this.opts.emit(ev);
    }
    return s;
  }

  /** Periodic work: emit calls whose pieces stopped arriving, report loss. */
  tick(): void {
    this.assembler.tick();
    this.reportLoss();
  }

  /**
   * End the capture without detaching: tell the probes to stop, take what is left in the
   * ring, flush held calls, report loss. After this the output is complete; detaching
   * (slow, see detachAsync) can follow. Idempotent; returns the final counters.
   */
  quiesce(): { kernel: KernelStats; user: AssemblerStats } {
    if (this.#final) return this.#final;
    const one = Buffer.alloc(4);
    one.writeUInt32LE(1);
    try {
      this.obj.map('ctl').update(Buffer.alloc(4), one);
    } catch (e) {
      this.opts.warn?.(`cannot stop the probes: ${(e as Error).message}`);
    }
    // What is still in the ring only releases the processes it held.
    this.discovery?.close();
    if (this.#ring) {
      this.#ring.drain();
      this.#ring.close();
    }
    this.assembler.flush();
    const final = this.reportLoss();
    this.#final = { kernel: final, user: this.assembler.stats };
    return this.#final;
  }

  #final: { kernel: KernelStats; user: AssemblerStats } | undefined;
  #closed = false;

  /**
   * Detach the probes and close. Removing a uprobe waits for an RCU grace period (~0.1 s
   * each on a busy VM), so this takes a while with many probes; the pool threads overlap
   * what the kernel lets them.
   */
  async detachAsync(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const links = this.#links;
    this.#links = [];
    await Promise.all(links.map((l) => l.destroyAsync()));
    this.obj.close();
  }

  /** quiesce(), then detach and close synchronously. Idempotent. */
  stop(): { kernel: KernelStats; user: AssemblerStats } {
    const r = this.quiesce();
    if (!this.#closed) {
      this.#closed = true;
      for (const l of this.#links) l.destroy();
      this.#links = [];
      this.obj.close();
    }
    return r;
  }

  /** quiesce(), then detach in parallel. */
  async stopAsync(): Promise<{ kernel: KernelStats; user: AssemblerStats }> {
    const r = this.quiesce();
    await this.detachAsync();
    return r;
  }
}

/** One line for stderr at exit. */
export function summaryLine(k: KernelStats, u: AssemblerStats): string {
  const mb = (n: number) => (n / (1 << 20)).toFixed(n < 1 << 20 ? 3 : 1);
  const share = k.bytes
    ? ((k.recBytes / Math.max(1, k.bytes - k.cappedBytes)) * 100).toFixed(
        k.recBytes === k.bytes - k.cappedBytes ? 0 : 2,
      )
    : '100';
  let line = `${u.calls} calls, ${mb(u.bytes)} MiB captured (${share}% of ${mb(k.bytes)} MiB seen) in ${k.records} records`;
  if (k.dropRecords || k.dropBytes)
    line += `; LOST ${k.dropRecords} records, ${mb(k.dropBytes)} MiB (ring full: raise --ring-mb)`;
  if (k.faults) line += `; ${k.faults} unreadable buffers`;
  if (k.cappedBytes) line += `; ${mb(k.cappedBytes)} MiB over --max-call-mb not captured`;
  if (u.truncated) line += `; ${u.truncated} calls truncated`;
  return line;
}
