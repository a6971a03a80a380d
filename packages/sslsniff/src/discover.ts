// Following new programs: the BPF program tls_exec_watch reports each exec of a program
// file it has not been told about (KIND_MAP records), possibly with the process held
// stopped. Here user space looks at that file once, attaches to its TLS functions (by file,
// so every process running it is covered), tells the kernel the file is known, and lets the
// process go on.

import fs from 'node:fs';
import { hostPath, sharesOurRoot } from './hostpath.js';
import { F_HELD, F_PATH_TRUNC, HDR_SIZE, KIND_MAP } from './record.js';
import { type FindOptions, findTlsTargetCached, rootTlsLibraries, type TlsTarget } from './targets.js';

export interface MapRecord {
  pid: number;
  uid: number;
  comm: string;
  /** The file's identity as the kernel sees it: the `known` map's key (dev, generation, inode). */
  key: Buffer;
  ino: bigint;
  /** Absolute path in the process's mount namespace. */
  path: string;
  /** The process is stopped until we send SIGCONT. */
  held: boolean;
  truncated: boolean;
}

export function isMapRecord(rec: Buffer): boolean {
  return rec.length >= HDR_SIZE && rec[64] === KIND_MAP;
}

/** pathwalk.h's output, components leaf first, each NUL-terminated, as an absolute path. */
export function pathFromComponents(b: Buffer): string {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== 0) continue;
    if (i > start) parts.push(b.toString('utf8', start, i));
    start = i + 1;
  }
  return '/' + parts.reverse().join('/');
}

/** Decode a KIND_MAP record (layout: bpf/sslsniff.bpf.c tls_exec_watch). Copies what it keeps. */
export function decodeMapRecord(rec: Buffer): MapRecord {
  const key = Buffer.alloc(16);
  rec.copy(key, 0, 16, 24); // dev, generation
  rec.copy(key, 8, 8, 16); // inode
  const len = rec.readUInt32LE(44);
  let n = 0;
  while (n < 16 && rec[68 + n] !== 0) n++;
  return {
    pid: rec.readUInt32LE(32),
    uid: rec.readUInt32LE(40),
    comm: rec.toString('utf8', 68, 68 + n),
    key,
    ino: rec.readBigUInt64LE(8),
    path: pathFromComponents(rec.subarray(HDR_SIZE, HDR_SIZE + Math.min(len, rec.length - HDR_SIZE))),
    held: !!(rec[67]! & F_HELD),
    truncated: !!(rec[67]! & F_PATH_TRUNC),
  };
}

export interface DiscoveryOptions {
  /** Attach to a target found, exec'd by `pid`; returns how many functions were newly hooked. */
  attach: (t: TlsTarget, pid: number) => number;
  /** Mark a file known in the kernel (the `known` map). */
  markKnown: (key: Buffer) => void;
  find?: (path: string, opts: FindOptions) => TlsTarget | null;
  /** The shared TLS libraries of the root filesystem `pid` runs in, when it is not ours (rootTlsLibraries). */
  rootLibraries?: (pid: number, opts: FindOptions) => TlsTarget[];
  /** Let a held process go on. */
  resume?: (pid: number) => void;
  /**
   * A process that is not captured (--deny, --allow): the file it runs is not looked at for
   * it, nor marked known, so a captured process that runs it later still gets it hooked.
   */
  skip?: (m: MapRecord) => boolean;
  info?: (msg: string) => void;
}

export interface DiscoveryStats {
  /** Files looked at, and those found to carry TLS. */
  files: number;
  hooked: number;
  /** Mappings that held their process, and the longest hold (ms, from our side). */
  held: number;
  maxHoldMs: number;
  /** Reports from processes not captured, left alone (DiscoveryOptions.skip). */
  skipped: number;
}

export class Discovery {
  /** Kernel keys (hex) of files looked at: another report of one (an LRU eviction, a race) is cheap. */
  readonly #seen = new Set<string>();
  /** Root filesystems (dev:ino of /proc/PID/root) whose shared TLS libraries were looked at. */
  readonly #roots = new Set<string>();
  readonly stats: DiscoveryStats = { files: 0, hooked: 0, held: 0, maxHoldMs: 0, skipped: 0 };
  #closing = false;

  constructor(private readonly opts: DiscoveryOptions) {}

  /** From now on only release held processes: the capture is ending. */
  close(): void {
    this.#closing = true;
  }

  handle(rec: Buffer): void {
    const m = decodeMapRecord(rec);
    const t0 = Date.now();
    try {
      if (!this.#closing) this.#look(m);
    } finally {
      if (m.held) {
        this.stats.held++;
        this.stats.maxHoldMs = Math.max(this.stats.maxHoldMs, Date.now() - t0);
        (this.opts.resume ?? resumeProcess)(m.pid);
      }
    }
  }

  #look(m: MapRecord): void {
    if (this.opts.skip?.(m)) {
      this.stats.skipped++;
      return;
    }
    const id = m.key.toString('hex');
    if (!this.#seen.has(id)) {
      // Bounded (a host-wide capture runs for days): forgetting only costs a second look.
      if (this.#seen.size >= 65536) this.#seen.clear();
      this.#seen.add(id);
      this.stats.files++;
      const file = hostPath(m.pid, m.path, m.ino);
      let t: TlsTarget | null = null;
      try {
        if (!m.truncated) t = (this.opts.find ?? findTlsTargetCached)(file, { log: this.opts.info });
      } catch (e) {
        this.opts.info?.(`${file}: ${(e as Error).message}`);
      }
      if (t?.symbols.length) {
        const n = this.opts.attach(t, m.pid);
        if (n) {
          this.stats.hooked++;
          this.opts.info?.(
            `${file}: ${t.lib} TLS hooked, ${n} functions (exec'd by ${m.comm} pid ${m.pid}${m.held ? ', held until then' : ''})`,
          );
        }
      }
    }
    this.#lookRoot(m);
    this.opts.markKnown(m.key);
  }

  /**
   * A program run from another root (a container, a chroot) loads that root's libssl, not
   * the host's we attached at start: attach to those too, once per root, while the
   * process is still held at its exec.
   */
  #lookRoot(m: MapRecord): void {
    let key: string;
    try {
      if (sharesOurRoot(m.pid) !== false) return; // ours, or gone
      const st = fs.statSync(`/proc/${m.pid}/root`);
      key = `${st.dev}:${st.ino}`;
    } catch {
      return; // gone
    }
    if (this.#roots.has(key)) return;
    this.#roots.add(key);
    for (const t of (this.opts.rootLibraries ?? rootTlsLibraries)(m.pid, { log: this.opts.info })) {
      const n = this.opts.attach(t, m.pid);
      if (n)
        this.opts.info?.(`${t.path}: ${t.lib} TLS hooked, ${n} functions (the root ${m.comm} pid ${m.pid} runs in)`);
    }
  }
}

function resumeProcess(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    /* gone */
  }
}
