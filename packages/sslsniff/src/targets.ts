/**
 * TLS target discovery: which file carries which TLS library (tls-libraries.ts), and at
 * which file offsets its plaintext read/write functions start. Go programs through the Go
 * runtime's symbol table (go-symtab.ts); then exported or symtab symbols; stripped static
 * BoringSSL (Bun, Claude Code) through the heuristic in boringssl.ts, rustls over aws-lc
 * (Codex) through awslc.ts's.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import type { TlsLib } from '@agentsight/events';
import { locateAwsLcAead } from './awslc.js';
import { locateBoringSsl } from './boringssl.js';
import { ElfFile, type ElfSymbol, STT_FUNC, STT_GNU_IFUNC } from './elf.js';
import { locateGoTls } from './go-symtab.js';
import { hostPath } from './hostpath.js';
import { CK_WRITE } from './record.js';
import { TLS_LIB_NAMES, TLS_LIBRARIES, type TlsLibrary, type TlsSymbol } from './tls-libraries.js';
import { binaryKey, cacheGet, cachePut } from './tlscache.js';

export type { TlsLib, TlsSymbol };

export interface TlsTarget {
  path: string;
  lib: TlsLib;
  symbols: TlsSymbol[];
  note?: string;
}

type Row = TlsLibrary;
const row = (l: TlsLib): Row => TLS_LIBRARIES[l];
const isWrite = (l: TlsLib, f: string) => (row(l).functions[f]!.flags & CK_WRITE) !== 0;

/** Libraries found by ELF symbols (not through the Go runtime's table, nor only by a locator). */
const ELF_LIBS = TLS_LIB_NAMES.filter((l) => !row(l).goRuntime && !row(l).locatorOnly);
const GO_LIBS = TLS_LIB_NAMES.filter((l) => row(l).goRuntime);

const WANTED = new Set<string>(
  ELF_LIBS.flatMap((l) => [
    ...Object.keys(row(l).functions),
    ...(row(l).markers ?? []),
    ...(row(l).shimIfImports ?? []),
  ]),
);

function isDefinedFunc(s: ElfSymbol): boolean {
  return s.shndx !== 0 && (s.type === STT_FUNC || s.type === STT_GNU_IFUNC) && s.value !== 0;
}

export interface FindOptions {
  /** Run the stripped-BoringSSL scan when symbols give nothing (default true). */
  heuristic?: boolean;
  /** Progress/diagnostic lines (stderr in the tools). */
  log?: (msg: string) => void;
  /** Reuse/store heuristic results in the per-binary cache (default true). */
  cache?: boolean;
}

/**
 * The TLS library a shared library or executable carries, with the file offsets of its
 * read/write functions, or null when it carries none we can hook.
 */
export function findTlsTarget(path: string, opts: FindOptions = {}): TlsTarget | null {
  let elf: ElfFile;
  try {
    elf = ElfFile.open(path);
  } catch (e) {
    opts.log?.(`${path}: ${(e as Error).message}`);
    return null;
  }
  try {
    if (elf.machine !== 62) return null; // EM_X86_64: the only architecture the BPF side is built for
    // Go first: a Go binary's .symtab is large, and names the same methods without what
    // their probes need (the return instructions).
    for (const lib of GO_LIBS) {
      const go = locateGoTls(elf, Object.keys(row(lib).functions), opts.log);
      if (go?.symbols.some((f) => isWrite(lib, f.name))) return { path, lib, symbols: go.symbols, note: go.note };
    }
    const defined = new Map<string, { sym: ElfSymbol; method: 'dynsym' | 'symtab' }>();
    const undefinedNames = new Set<string>();
    for (const method of ['dynsym', 'symtab'] as const) {
      for (const s of elf.symbols(method, WANTED)) {
        if (isDefinedFunc(s)) {
          if (!defined.has(s.name)) defined.set(s.name, { sym: s, method });
        } else if (s.shndx === 0) {
          undefinedNames.add(s.name);
        }
      }
    }
    const pick = (names: readonly string[]): TlsSymbol[] => {
      const out: TlsSymbol[] = [];
      for (const n of names) {
        const d = defined.get(n);
        if (!d) continue;
        const offset = elf.vaddrToOffset(d.sym.value);
        if (offset === null || !elf.isExecutable(d.sym.value)) continue;
        out.push({ name: n, offset, method: d.method });
      }
      return out;
    };

    const tried = new Set<Row['functions']>();
    for (const lib of ELF_LIBS) {
      const fns = row(lib).functions;
      if (tried.has(fns)) continue;
      tried.add(fns);
      const found = pick(Object.keys(fns));
      if (!found.some((f) => isWrite(lib, f.name))) continue;
      // Libraries exporting the same functions (OpenSSL, BoringSSL) are told apart by the
      // symbols only one of them defines; without a verdict, the first in the table.
      const alike = ELF_LIBS.filter((l) => row(l).functions === fns);
      const marked = alike.filter((l) => row(l).markers?.some((m) => defined.has(m)));
      const which = marked.length === 1 ? marked[0]! : lib;
      if (alike.some((l) => row(l).shimIfImports?.some((f) => undefinedNames.has(f) && !defined.has(f)))) return null;
      return { path, lib: which, symbols: found };
    }

    if (opts.heuristic === false) return null;
    const cache = { cache: opts.cache !== false };
    for (const lib of TLS_LIB_NAMES) {
      const how = row(lib).locator;
      if (!how) continue;
      const found = how === 'boringssl' ? locateBoringSsl(elf, opts.log, cache) : locateAwsLcAead(elf, opts.log, cache);
      if (found?.symbols.length) {
        return { path, lib, symbols: found.symbols, ...(found.note ? { note: found.note } : {}) };
      }
    }
    return null;
  } finally {
    elf.close();
  }
}

/** Files this large are looked at once per version (tlscache.ts): their symbols alone take ~0.4 s (node). */
const CACHE_FROM_BYTES = 16 << 20;

/**
 * findTlsTarget, remembered per binary for large files: a program followed at exec is held
 * while we look, and node or Claude Code are 100-250 MB.
 */
export function findTlsTargetCached(path: string, opts: FindOptions = {}): TlsTarget | null {
  let key: string | undefined;
  try {
    if (opts.cache !== false && statSync(path).size >= CACHE_FROM_BYTES) key = `target-${binaryKey(path)}`;
  } catch {
    /* findTlsTarget reports it */
  }
  if (key) {
    const hit = cacheGet<{ result: Omit<TlsTarget, 'path'> | null }>(key);
    if (hit && typeof hit === 'object' && 'result' in hit) return hit.result ? { ...hit.result, path } : null;
  }
  const t = findTlsTarget(path, opts);
  if (key) {
    const { path: _p, ...rest } = t ?? { path };
    cachePut(key, { path, result: t ? rest : null });
  }
  return t;
}

function fileKey(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/** Executable file mappings of a process, as the host reaches them (hostPath: containers, chroots). */
export function mappedFiles(pid: number): string[] {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of maps.split('\n')) {
    // address perms offset dev inode pathname
    const m = /^[0-9a-f]+-[0-9a-f]+\s+(\S+)\s+\S+\s+\S+\s+(\d+)\s+(\/.*)$/.exec(line);
    if (!m || !m[1]!.includes('x') || m[2] === '0') continue;
    const p = m[3]!;
    if (p.endsWith(' (deleted)')) continue;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(hostPath(pid, p, BigInt(m[2]!), { viaRoot: true }));
  }
  return out;
}

/**
 * TLS targets a running process has mapped (shared libraries and the executable itself,
 * which may link TLS statically). Paths go through /proc/PID/root so a process in another
 * mount namespace (a container) resolves to its own files.
 */
export function discoverForPid(pid: number, opts: FindOptions = {}): TlsTarget[] {
  if (!existsSync(`/proc/${pid}`)) throw new Error(`no such process: ${pid}`);
  const targets: TlsTarget[] = [];
  const seen = new Set<string>();
  for (const path of mappedFiles(pid)) {
    const key = fileKey(path);
    if (!key || seen.has(key)) continue;
    seen.add(key);
    const t = findTlsTargetCached(path, opts);
    if (t) targets.push(t);
  }
  return targets;
}

export const LIB_DIRS = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib64',
  '/lib64',
  '/usr/lib',
  '/lib',
  '/usr/local/lib',
  '/usr/local/lib64',
];

/** First existing file among the candidate names, searched dir by dir in loader order. */
function findLib(names: string[], dirs = LIB_DIRS): string | null {
  for (const d of dirs)
    for (const n of names) {
      const p = `${d}/${n}`;
      if (existsSync(p)) return p;
    }
  return null;
}

/** The system's shared TLS libraries (the table's systemFiles). */
export function systemTlsLibraries(opts: FindOptions & { dirs?: string[] } = {}): TlsTarget[] {
  const dirs = opts.dirs ?? LIB_DIRS;
  const candidates: string[] = [];
  for (const lib of TLS_LIB_NAMES) {
    const { systemFiles, systemOnlyWith } = row(lib);
    if (systemOnlyWith && !findLib([...systemOnlyWith], dirs)) continue;
    for (const n of systemFiles) {
      const p = findLib([n], dirs);
      if (p) candidates.push(p);
    }
  }
  const out: TlsTarget[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    // By file identity, not realpath: under another process's /proc/PID/root a realpath
    // is that mount namespace's, not one the host can open.
    const key = fileKey(c);
    if (!key || seen.has(key)) continue;
    seen.add(key);
    const t = findTlsTarget(c, { ...opts, heuristic: false });
    if (t) out.push(t);
  }
  return out;
}

/**
 * The shared TLS libraries of another root filesystem (a container's, a chroot's) as the
 * host reaches them through /proc/PID/root: exec-following sees programs, not the
 * libraries they load, and these are other files than the host's.
 */
export function rootTlsLibraries(pid: number, opts: FindOptions = {}): TlsTarget[] {
  return systemTlsLibraries({ ...opts, dirs: LIB_DIRS.map((d) => `/proc/${pid}/root${d}`) });
}

/**
 * `docker://NAME`: the container's main process and its executable as seen from the host.
 * Needs the docker CLI; throws with a one-line reason otherwise.
 */
export function resolveDockerTarget(name: string): { pid: number; path: string } {
  const n = name.replace(/^docker:\/\//, '');
  let out: string;
  try {
    out = execFileSync('docker', ['inspect', '--format', '{{.State.Pid}}', n], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 15000,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`docker://${n}: the docker CLI is not installed`);
    throw new Error(`docker://${n}: docker inspect failed: ${(err.stderr ?? err.message).toString().trim()}`);
  }
  const pid = Number(out.trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`docker://${n}: container is not running`);
  const exe = readlinkSync(`/proc/${pid}/exe`);
  return { pid, path: `/proc/${pid}/root${exe}` };
}

/** Human-readable listing for --list-targets: one line per target and per symbol. */
export function describeTargets(targets: TlsTarget[]): string {
  if (!targets.length) return 'no TLS targets found\n';
  const lines: string[] = [];
  const width = Math.max(20, ...targets.flatMap((t) => t.symbols.map((s) => s.name.length)));
  for (const t of targets) {
    lines.push(`${t.path}: ${t.lib}${t.note ? ` (${t.note})` : ''}`);
    for (const s of t.symbols) {
      const rets = s.returns ? `, returns at ${s.returns.map((o) => `0x${o.toString(16)}`).join(' ')}` : '';
      lines.push(`  ${s.name.padEnd(width)} offset 0x${s.offset.toString(16).padStart(8, '0')}  ${s.method}${rets}`);
    }
  }
  return lines.join('\n') + '\n';
}
