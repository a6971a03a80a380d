// Preconditions for running BPF: privileges, kernel BTF, tracefs, memlock. Each failure is
// a BpfError, one line naming what is missing (a tool exits 77 on it).
import fs from 'node:fs';
import koffi from 'koffi';
import { BpfError } from './errors.js';
import { libbpf } from './libbpf.js';

const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

/** Effective capabilities of this process, from /proc/self/status. */
export function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt('0x' + m[1]) : 0n;
}

const has = (caps: bigint, cap: number) => ((caps >> BigInt(cap)) & 1n) !== 0n;

export interface PrivilegeNeeds {
  /** Uses tracepoints under tracefs (tp/ sections); default false. */
  tracefs?: boolean;
}

/**
 * Check what loading and attaching BPF programs needs here, throwing a BpfError that
 * names the first missing piece.
 */
export function checkPrivileges(needs: PrivilegeNeeds = {}): void {
  const caps = effectiveCaps();
  const admin = has(caps, CAP_SYS_ADMIN);
  if (!admin && !(has(caps, CAP_BPF) && has(caps, CAP_PERFMON))) {
    const uid = process.geteuid?.() ?? -1;
    throw new BpfError(`needs root, or CAP_BPF and CAP_PERFMON (running as uid ${uid} without them)`);
  }
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) {
    throw new BpfError('the kernel has no BTF (/sys/kernel/btf/vmlinux is missing; needs CONFIG_DEBUG_INFO_BTF=y)');
  }
  try {
    const lockdown = fs.readFileSync('/sys/kernel/security/lockdown', 'utf8');
    if (lockdown.includes('[confidentiality]')) {
      throw new BpfError('kernel lockdown is in confidentiality mode, which forbids BPF reads of memory');
    }
  } catch (e) {
    if (e instanceof BpfError) throw e;
  }
  try {
    libbpf();
  } catch (e) {
    throw new BpfError((e as Error).message);
  }
  if (needs.tracefs) ensureTracefs();
  raiseMemlock();
}

/** Where tracefs is mounted, mounting it on /sys/kernel/tracing if it is not. */
export function ensureTracefs(): string {
  for (const dir of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
    if (fs.existsSync(`${dir}/events`)) return dir;
  }
  const target = '/sys/kernel/tracing';
  const lb = libbpf();
  const r = lb.mount('nodev', target, 'tracefs', 0, null) as number;
  if (r !== 0) {
    const e = koffi.errno();
    throw new BpfError(`tracefs is not mounted and mounting it on ${target} failed: ${String(lb.strerror(e))}`);
  }
  return target;
}

const RLIMIT_MEMLOCK = 8;
const RLIM_INFINITY = 0xffffffffffffffffn;

/**
 * Lift RLIMIT_MEMLOCK. Kernels since 5.11 charge BPF memory to the cgroup instead, so a
 * failure here only matters on older kernels; returns whether the limit is now unlimited.
 */
export function raiseMemlock(): boolean {
  const lb = libbpf();
  const cur = Buffer.alloc(16);
  if ((lb.getrlimit(RLIMIT_MEMLOCK, cur) as number) === 0 && cur.readBigUInt64LE(0) === RLIM_INFINITY) return true;
  const want = Buffer.alloc(16);
  want.writeBigUInt64LE(RLIM_INFINITY, 0);
  want.writeBigUInt64LE(RLIM_INFINITY, 8);
  return (lb.setrlimit(RLIMIT_MEMLOCK, want) as number) === 0;
}
