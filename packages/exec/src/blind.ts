// Programs whose TLS cannot be captured, and what they did on the network all the same.
// A static binary with its own TLS stack that is not a library we hook (Codex: rustls in a
// static musl build; Go's crypto/tls before Go 1.17) has no SSL_read/SSL_write to put a uprobe on. Saying
// "lost nothing" for such a run would be a lie: it is said at its start and in the summary.
import fs from 'node:fs';
import type { AgentEvent } from '@agentsight/events';
import { ElfFile } from '@agentsight/sslsniff';

const PT_INTERP = 3;

// Strings a TLS stack leaves in a binary (panic paths, type names, error texts).
const STACKS: Array<[marker: string, name: string]> = [
  ['rustls', 'rustls'],
  ['crypto/tls.(*Conn)', 'Go crypto/tls'],
  ['mbedtls_ssl_', 'mbed TLS'],
  ['wolfSSL_', 'wolfSSL'],
];

function stackIn(file: string): string | null {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4 << 20);
    const overlap = 32;
    for (let pos = 0; ; ) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) return null;
      const chunk = buf.subarray(0, n);
      for (const [marker, name] of STACKS) if (chunk.includes(marker)) return name;
      if (n < buf.length) return null;
      pos += n - overlap;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Why a program's TLS cannot be captured ("rustls, static"), or null when it may be. Only
 * for a file in which no TLS library we hook was found: a static binary cannot load the
 * system's libssl either, so a TLS stack of its own is one we cannot see into. (A dynamic
 * one is given the benefit of the doubt: it may use the system's library, which is hooked.)
 */
export function uncapturedTls(file: string): string | null {
  let isStatic: boolean;
  try {
    const elf = ElfFile.open(file);
    try {
      isStatic = !elf.programHeaders.some((p) => p.type === PT_INTERP);
    } finally {
      elf.close();
    }
  } catch {
    return null;
  }
  if (!isStatic) return null;
  try {
    const stack = stackIn(file);
    return stack ? `${stack}, static` : null;
  } catch {
    return null;
  }
}

/** Processes known to be TLS-blind, and the peers they connected to. */
export class BlindTls {
  readonly #procs = new Map<number, { comm: string; why: string; peers: Set<string>; captured: boolean }>();

  /** At most this many processes are remembered (oldest first out): a host-wide capture runs for days. */
  static readonly MAX = 4096;

  mark(pid: number, comm: string, why: string): void {
    if (this.#procs.has(pid)) return;
    if (this.#procs.size >= BlindTls.MAX) this.#procs.delete(this.#procs.keys().next().value!);
    this.#procs.set(pid, { comm, why, peers: new Set(), captured: false });
  }

  has(pid: number): boolean {
    return this.#procs.has(pid);
  }

  /** Every event the capture makes: connects of blind processes, their forks, any TLS seen from them. */
  see(ev: AgentEvent): void {
    const pid = (ev as { pid?: number }).pid;
    if (pid === undefined) return;
    if (ev.src === 'proc' && ev.type === 'fork') {
      const parent = this.#procs.get(ev.ppid);
      if (parent) this.mark(pid, ev.comm, parent.why);
      return;
    }
    const p = this.#procs.get(pid);
    if (!p) return;
    if (ev.src === 'ssl' && ev.type === 'data') p.captured = true;
    else if (
      ev.src === 'proc' &&
      ev.type === 'connect' &&
      (ev.family === 'inet' || ev.family === 'inet6') &&
      ev.addr &&
      ev.port !== undefined &&
      ev.port !== 53 &&
      (ev.ret >= 0 || ev.ret === -115)
    ) {
      if (p.peers.size < 64) p.peers.add(ev.family === 'inet6' ? `[${ev.addr}]:${ev.port}` : `${ev.addr}:${ev.port}`);
    }
  }

  /** One line per blind process that connected somewhere and of which no TLS was seen. */
  lines(): string[] {
    const out: string[] = [];
    for (const [pid, p] of this.#procs) {
      if (p.captured || !p.peers.size) continue;
      const peers = [...p.peers];
      out.push(
        `not captured: pid ${pid} ${p.comm} (${p.why}) -> ${peers.slice(0, 3).join(', ')}${peers.length > 3 ? ` and ${peers.length - 3} more` : ''}`,
      );
    }
    return out;
  }
}
