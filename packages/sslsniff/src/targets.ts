/**
 * TLS target discovery: which file carries which TLS library, and at which file offsets
 * its plaintext read/write functions start. Exported or symtab symbols first; stripped
 * static BoringSSL (Bun, Claude Code) through the heuristic in boringssl.ts.
 */
import { readFileSync, readlinkSync, statSync, existsSync, realpathSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ElfFile, STT_FUNC, STT_GNU_IFUNC, type ElfSymbol } from './elf.js';
import { locateBoringSsl } from './boringssl.js';

export type TlsLib = 'openssl' | 'boringssl' | 'gnutls' | 'nss';

export interface TlsSymbol {
  name: string;
  /** File offset of the function's first instruction: what uprobes attach by. */
  offset: number;
  method: 'dynsym' | 'symtab' | 'heuristic';
}

export interface TlsTarget {
  path: string;
  lib: TlsLib;
  symbols: TlsSymbol[];
  note?: string;
}

export const OPENSSL_FUNCS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'SSL_do_handshake'] as const;
export const GNUTLS_FUNCS = ['gnutls_record_send', 'gnutls_record_recv'] as const;
export const NSPR_FUNCS = ['PR_Write', 'PR_Read', 'PR_Send', 'PR_Recv'] as const;

// Symbols only BoringSSL defines; OpenSSL 1.1/3.x exports none of them.
const BORINGSSL_MARKERS = ['BORINGSSL_self_test', 'CRYPTO_is_confidential_build', 'SSL_CTX_set_grease_enabled',
  'SSL_set_strict_cipher_list', 'SSL_CTX_set_strict_cipher_list', 'BORINGSSL_integrity_test'];
// Symbols only OpenSSL defines (BoringSSL keeps OpenSSL_version for compatibility, so not that).
const OPENSSL_MARKERS = ['OPENSSL_version_major', 'OPENSSL_init_crypto', 'OSSL_PROVIDER_load', 'SSL_CTX_set_ciphersuites'];

const WANTED = new Set<string>([...OPENSSL_FUNCS, ...GNUTLS_FUNCS, ...NSPR_FUNCS, ...BORINGSSL_MARKERS, ...OPENSSL_MARKERS]);

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

    const ossl = pick(OPENSSL_FUNCS);
    if (ossl.some((s) => s.name === 'SSL_write' || s.name === 'SSL_write_ex')) {
      // GnuTLS ships an OpenSSL-compatible shim (libgnutls-openssl) whose SSL_write calls
      // gnutls_record_send: hooking both would report every byte twice.
      if (undefinedNames.has('gnutls_record_send') && !defined.has('gnutls_record_send')) return null;
      const boring = BORINGSSL_MARKERS.some((m) => defined.has(m));
      const openssl = OPENSSL_MARKERS.some((m) => defined.has(m));
      const lib: TlsLib = boring && !openssl ? 'boringssl' : 'openssl';
      return { path, lib, symbols: ossl };
    }
    const gnutls = pick(GNUTLS_FUNCS);
    if (gnutls.length) return { path, lib: 'gnutls', symbols: gnutls };
    const nspr = pick(NSPR_FUNCS);
    if (nspr.length) return { path, lib: 'nss', symbols: nspr };

    if (opts.heuristic === false) return null;
    const found = locateBoringSsl(elf, opts.log, { cache: opts.cache !== false });
    if (found && found.symbols.length) {
      return { path, lib: 'boringssl', symbols: found.symbols, ...(found.note ? { note: found.note } : {}) };
    }
    return null;
  } finally {
    elf.close();
  }
}

function fileKey(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/** Executable file mappings of a process, as seen from the host through /proc/PID/root. */
export function mappedFiles(pid: number): string[] {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of maps.split('\n')) {
    // address perms offset dev inode pathname
    const m = /^[0-9a-f]+-[0-9a-f]+\s+(\S+)\s+\S+\s+\S+\s+(\d+)\s+(\/.*)$/.exec(line);
    if (!m || !m[1]!.includes('x') || m[2] === '0') continue;
    let p = m[3]!;
    if (p.endsWith(' (deleted)')) continue;
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(`/proc/${pid}/root${p}`);
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
    const t = findTlsTarget(path, opts);
    if (t) targets.push(t);
  }
  return targets;
}

const LIB_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib',
  '/usr/local/lib', '/usr/local/lib64'];

/** First existing file among the candidate names, searched dir by dir in loader order. */
function findLib(names: string[], dirs = LIB_DIRS): string | null {
  for (const d of dirs) for (const n of names) {
    const p = `${d}/${n}`;
    if (existsSync(p)) return p;
  }
  return null;
}

/** The system's shared TLS libraries: OpenSSL (3 and 1.1), GnuTLS and NSS (hooked in NSPR). */
export function systemTlsLibraries(opts: FindOptions & { dirs?: string[] } = {}): TlsTarget[] {
  const dirs = opts.dirs ?? LIB_DIRS;
  const candidates: string[] = [];
  for (const n of ['libssl.so.3', 'libssl.so.1.1', 'libgnutls.so.30']) {
    const p = findLib([n], dirs);
    if (p) candidates.push(p);
  }
  // NSS does its plaintext I/O through NSPR's PR_Write/PR_Read on the SSL layer, so hook
  // libnspr4 — but only where NSS is installed, otherwise NSPR I/O is not TLS at all.
  if (findLib(['libssl3.so', 'libnss3.so'], dirs)) {
    const p = findLib(['libnspr4.so'], dirs);
    if (p) candidates.push(p);
  }
  const out: TlsTarget[] = [];
  const seen = new Set<string>();
  for (const c of candidates) {
    let real: string;
    try {
      real = realpathSync(c);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const t = findTlsTarget(c, { ...opts, heuristic: false });
    if (t) out.push(t);
  }
  return out;
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
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15000,
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
  for (const t of targets) {
    lines.push(`${t.path}: ${t.lib}${t.note ? ` (${t.note})` : ''}`);
    for (const s of t.symbols) {
      lines.push(`  ${s.name.padEnd(20)} offset 0x${s.offset.toString(16).padStart(8, '0')}  ${s.method}`);
    }
  }
  return lines.join('\n') + '\n';
}
