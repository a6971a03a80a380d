import os from 'node:os';
import koffi from 'koffi';
import { fail } from './errors.js';
import {
  BPF_F_UPROBE_MULTI_RETURN,
  BPF_LINK_CREATE,
  BPF_TRACE_UPROBE_MULTI,
  errno,
  libbpf,
  NR_BPF_X86_64,
  type Ptr,
} from './libbpf.js';

// Attachments: what a program is attached to (uprobe targets) and the link that keeps it
// attached until destroyed.

export interface UprobeTarget {
  /** The ELF file: a shared library or an executable. */
  path: string;
  /** File offset of the probed instruction (not a virtual address). */
  offset?: number;
  /** Let libbpf resolve this symbol instead (offset then is relative to it). */
  func?: string;
  retprobe?: boolean;
  /** Only this process (default: every process that maps the file). */
  pid?: number;
  /** Value the program reads with bpf_get_attach_cookie(). */
  cookie?: number | bigint;
}

export interface UprobeMultiTarget {
  /** The ELF file. */
  path: string;
  /** File offsets of the probed instructions, one probe each. */
  offsets: number[];
  /** bpf_get_attach_cookie() value for each offset (default 0). */
  cookies?: Array<number | bigint>;
  retprobe?: boolean;
  /** Only this process (default: every process that maps the file). */
  pid?: number;
}

/**
 * uprobe_multi links (one link, many probes in one file) exist since Linux 6.6; libbpf 1.1
 * cannot make them, so BpfObject does it with bpf(BPF_LINK_CREATE) itself.
 */
export function uprobeMultiSupported(release = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return !!m && process.arch === 'x64' && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 6));
}

/** The fd of a new uprobe_multi link of program `progFd`; `what` names it in errors. */
export function createUprobeMultiLink(progFd: number, t: UprobeMultiTarget, what: string): number {
  const n = t.offsets.length;
  const path = Buffer.from(t.path + '\0', 'utf8');
  const offsets = Buffer.alloc(8 * n);
  const cookies = Buffer.alloc(8 * n);
  t.offsets.forEach((o, i) => offsets.writeBigUInt64LE(BigInt(o), 8 * i));
  (t.cookies ?? []).forEach((c, i) => cookies.writeBigUInt64LE(BigInt.asUintN(64, BigInt(c)), 8 * i));
  // union bpf_attr, link_create: prog_fd, target_fd, attach_type, flags, then uprobe_multi
  // { u64 path, offsets, ref_ctr_offsets, cookies; u32 cnt, flags, pid }.
  const attr = Buffer.alloc(64);
  attr.writeUInt32LE(progFd, 0);
  attr.writeUInt32LE(BPF_TRACE_UPROBE_MULTI, 8);
  attr.writeBigUInt64LE(koffi.address(path), 16);
  attr.writeBigUInt64LE(koffi.address(offsets), 24);
  attr.writeBigUInt64LE(koffi.address(cookies), 40);
  attr.writeUInt32LE(n, 48);
  attr.writeUInt32LE(t.retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0, 52);
  attr.writeUInt32LE(t.pid ?? 0, 56);
  const fd = Number(
    libbpf().syscall(NR_BPF_X86_64, 'int', BPF_LINK_CREATE, 'void *', attr, 'unsigned int', attr.length),
  );
  if (fd < 0) fail(what, errno());
  return fd;
}

/** An attachment; destroying it detaches the program. */
export class Link {
  /** A libbpf `struct bpf_link *`, or (for links libbpf cannot make) a bare link fd. */
  #ptr: Ptr;
  #fd: number | null;
  #gone: (l: Link) => void;
  /** `gone` is told once the link is detached. */
  constructor(
    handle: bigint | { fd: number },
    readonly description: string,
    gone: (l: Link) => void,
  ) {
    this.#ptr = typeof handle === 'bigint' ? handle : null;
    this.#fd = typeof handle === 'bigint' ? null : handle.fd;
    this.#gone = gone;
  }
  get attached(): boolean {
    return this.#ptr !== null || this.#fd !== null;
  }
  destroy(): void {
    if (this.#fd !== null) {
      libbpf().close(this.#fd);
      this.#fd = null;
      this.#gone(this);
      return;
    }
    if (this.#ptr === null) return;
    libbpf().link_destroy(this.#ptr);
    this.#ptr = null;
    this.#gone(this);
  }

  /**
   * Detach on a libuv pool thread. Removing a uprobe waits for an RCU grace period
   * (~0.1 s on a busy VM); detaching many links this way overlaps those waits.
   */
  destroyAsync(): Promise<void> {
    const fd = this.#fd;
    if (fd !== null) {
      this.#fd = null;
      return new Promise((resolve) => {
        libbpf().close.async(fd, () => {
          this.#gone(this);
          resolve();
        });
      });
    }
    const ptr = this.#ptr;
    if (ptr === null) return Promise.resolve();
    this.#ptr = null;
    return new Promise((resolve) => {
      libbpf().link_destroy.async(ptr, () => {
        this.#gone(this);
        resolve();
      });
    });
  }
}
