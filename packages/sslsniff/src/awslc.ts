/**
 * rustls over aws-lc (Codex, and any Rust program on rustls's default crypto provider):
 * find aws-lc's EVP_AEAD_CTX_seal and EVP_AEAD_CTX_open, and their _scatter/_gather forms,
 * in a stripped static binary. Every TLS record rustls writes passes through the seal as
 * plaintext, every record it reads comes out of the open as plaintext (aws-lc-rs's
 * seal_in_place_append_tag and open_in_place/open_within call them; see capture in
 * bpf/sslsniff.bpf.c), so they are rustls's plaintext boundary, in C, with a C calling
 * convention, whatever the Rust code around them looks like.
 *
 * No byte pattern: what locates them is what aws-lc's source forces into the code, the
 * same kind of evidence as the stripped-BoringSSL locator (boringssl.ts). Every
 * OPENSSL_PUT_ERROR(CIPHER, reason) in crypto/fipsmodule/cipher/aead.c becomes
 * ERR_put_error(ERR_LIB_CIPHER=30, 0, reason, ".../cipher/aead.c", __LINE__), so:
 *   - the code that loads the address of the "aead.c" string (a RIP-relative lea) lies in
 *     that file's functions;
 *   - the unwind tables (.eh_frame, kept by Rust even in stripped binaries) give the exact
 *     function around each such load;
 *   - the reasons each function raises say which it is: EVP_AEAD_CTX_seal raises TOO_LARGE
 *     and BUFFER_TOO_SMALL, EVP_AEAD_CTX_open BAD_DECRYPT and BUFFER_TOO_SMALL,
 *     _seal_scatter INVALID_OPERATION, _open_gather CTRL_NOT_IMPLEMENTED (each also
 *     OUTPUT_ALIASES_INPUT), and their __LINE__ immediates follow the file's order (seal,
 *     seal_scatter, open, open_gather), checked as well.
 * These are aws-lc's public API and its error contract (inherited from BoringSSL); a
 * Codex or rustls release changes neither.
 */
import {
  analyseFunction,
  CodeWindow,
  callTargets,
  findAddressLoads,
  findStrings,
  functionStart,
  regions,
  scanRegion,
} from './boringssl.js';
import { type ElfFile, ehFrameFunctionLookup } from './elf.js';
import type { TlsSymbol } from './tls-libraries.js';
import { binaryKey, cacheGet, cachePut } from './tlscache.js';

export const ERR_LIB_CIPHER = 30;
/** CIPHER_R_* of include/openssl/cipher.h that aead.c raises. */
export const CIPHER_REASON = {
  BAD_DECRYPT: 101,
  BUFFER_TOO_SMALL: 103,
  CTRL_NOT_IMPLEMENTED: 104,
  INVALID_OPERATION: 112,
  OUTPUT_ALIASES_INPUT: 115,
  TOO_LARGE: 117,
} as const;

/** The __FILE__ aws-lc's AEAD layer raises its errors with (BoringSSL's has the same path). */
export const AEAD_FILE = 'crypto/fipsmodule/cipher/aead.c';

export type AeadRole =
  | 'EVP_AEAD_CTX_seal'
  | 'EVP_AEAD_CTX_seal_scatter'
  | 'EVP_AEAD_CTX_open'
  | 'EVP_AEAD_CTX_open_gather';
/** In the order aead.c defines them (its __LINE__s). */
export const AEAD_ROLES: readonly AeadRole[] = [
  'EVP_AEAD_CTX_seal',
  'EVP_AEAD_CTX_seal_scatter',
  'EVP_AEAD_CTX_open',
  'EVP_AEAD_CTX_open_gather',
];

export interface AeadFunction {
  start: number;
  end: number;
  /** Error reasons raised with the aead.c string. */
  reasons: number[];
  /** Their source lines. */
  lines: number[];
  /** How its extent was found. */
  bounds: 'eh_frame' | 'heuristic';
}

export interface AwsLcAnalysis {
  /** Addresses of the aead.c file strings, and of the code loading them. */
  files: number[];
  sites: number[];
  functions: AeadFunction[];
  /** Virtual address of each role identified. */
  found: Partial<Record<AeadRole, number>>;
  /** rustls and aws-lc-rs versions named in the binary's panic paths, when present. */
  versions: string[];
  note?: string;
}

const has = (f: AeadFunction, r: number) => f.reasons.includes(r);
const R = CIPHER_REASON;

/** Which AEAD entry point a function of aead.c is, from the errors it raises; null for others. */
export function aeadRole(f: Pick<AeadFunction, 'reasons'>): AeadRole | null {
  const g = f as AeadFunction;
  if (!has(g, R.OUTPUT_ALIASES_INPUT)) return null;
  if (has(g, R.TOO_LARGE) && has(g, R.BUFFER_TOO_SMALL) && !has(g, R.BAD_DECRYPT)) return 'EVP_AEAD_CTX_seal';
  if (has(g, R.BAD_DECRYPT) && has(g, R.BUFFER_TOO_SMALL) && !has(g, R.TOO_LARGE)) return 'EVP_AEAD_CTX_open';
  if (has(g, R.INVALID_OPERATION) && !has(g, R.TOO_LARGE) && !has(g, R.BAD_DECRYPT)) return 'EVP_AEAD_CTX_seal_scatter';
  if (has(g, R.CTRL_NOT_IMPLEMENTED) && !has(g, R.TOO_LARGE) && !has(g, R.BAD_DECRYPT))
    return 'EVP_AEAD_CTX_open_gather';
  return null;
}

/**
 * Path components in the read-only data that start with `needle` and match `re` (latin1),
 * each once; at most `max`. For the crate versions in panic paths ("…/rustls-0.23.46/src/…",
 * not "…/tokio-rustls-0.26.4/…").
 */
export function findMarkers(elf: ElfFile, needle: string, re: RegExp, max = 8): string[] {
  const out = new Set<string>();
  const n = Buffer.from(needle, 'latin1');
  for (const r of regions(elf, false)) {
    scanRegion(elf, r, 256, (buf, _base, from, limit) => {
      for (let i = buf.indexOf(n, from); i >= 0 && i < limit && out.size < max; i = buf.indexOf(n, i + 1)) {
        if (i > 0 && buf[i - 1] !== 0x2f) continue;
        const m = re.exec(buf.toString('latin1', i, Math.min(buf.length, i + 64)));
        if (m) out.add(m[0]);
      }
    });
  }
  return [...out].sort();
}

/** True when the binary carries rustls: its crate's source paths (panic locations). */
export function hasRustls(elf: ElfFile): boolean {
  return findMarkers(elf, 'rustls', /^rustls[-/]/, 1).length > 0;
}

/** aws-lc's AEAD entry points in a binary, or null when it has no aead.c error strings. */
export function analyseAwsLcAead(
  elf: ElfFile,
  opts: { log?: (msg: string) => void; files?: number[] } = {},
): AwsLcAnalysis | null {
  const files = opts.files ?? findStrings(elf, AEAD_FILE);
  if (!files.length) return null;
  if (elf.size > 32 << 20)
    opts.log?.(
      `${elf.path}: ${(elf.size / 1048576).toFixed(0)} MB, rustls over aws-lc: scanning its code for the AEAD seal/open functions (can take seconds; cached afterwards)`,
    );
  const sites = findAddressLoads(elf, files);
  const lookup = ehFrameFunctionLookup(elf);
  const fileSet = new Set(files);
  const byStart = new Map<number, AeadFunction>();
  const code = new CodeWindow(elf);
  let guess: CodeWindow | undefined;
  for (const s of sites) {
    const range = lookup?.(s) ?? null;
    let f: AeadFunction | undefined;
    if (range) {
      if (byStart.has(range.start)) continue;
      const a = analyseFunction(code, range.start, fileSet, range.end - range.start, {
        errLib: ERR_LIB_CIPHER,
        exact: true,
      });
      f = { start: range.start, end: range.end, reasons: a.reasons, lines: a.lines, bounds: 'eh_frame' };
    } else {
      // No unwind tables: the BoringSSL locator's own way to a function's start.
      guess ??= new CodeWindow(elf, callTargets(elf));
      const start = functionStart(guess, s);
      if (start === null || byStart.has(start)) continue;
      const a = analyseFunction(guess, start, fileSet, 1 << 15, { errLib: ERR_LIB_CIPHER });
      if (a.end <= s) continue;
      f = { start, end: a.end, reasons: a.reasons, lines: a.lines, bounds: 'heuristic' };
    }
    byStart.set(f.start, f);
  }
  const functions = [...byStart.values()].sort((a, b) => a.start - b.start);
  const found: Partial<Record<AeadRole, number>> = {};
  const notes: string[] = [];
  const firstLine = new Map<AeadRole, number>();
  for (const role of AEAD_ROLES) {
    const cands = functions.filter((f) => aeadRole(f) === role);
    if (!cands.length) continue;
    // An inlined copy elsewhere raises the same errors among others: the function itself
    // raises the fewest.
    cands.sort((a, b) => a.reasons.length - b.reasons.length || a.end - a.start - (b.end - b.start));
    if (cands.length > 1 && cands[0]!.reasons.length === cands[1]!.reasons.length) {
      notes.push(`${cands.length} functions raise ${role}'s errors; took the smallest`);
    }
    found[role] = cands[0]!.start;
    if (cands[0]!.lines.length) firstLine.set(role, Math.min(...cands[0]!.lines));
  }
  // aead.c defines them in AEAD_ROLES order: lines that disagree mean a role is mistaken.
  const ordered = AEAD_ROLES.filter((r) => firstLine.has(r)).map((r) => firstLine.get(r)!);
  if (ordered.some((l, i) => i > 0 && l <= ordered[i - 1]!)) {
    notes.push('source lines out of aead.c order: not trusted');
    for (const r of AEAD_ROLES) delete found[r];
  }
  const versions = findMarkers(elf, 'rustls-0.', /^rustls-\d+\.\d+\.\d+/).concat(
    findMarkers(elf, 'aws-lc-rs-', /^aws-lc-rs-\d+\.\d+\.\d+/),
  );
  const result: AwsLcAnalysis = { files, sites, functions, found, versions };
  if (notes.length) result.note = notes.join('; ');
  return result;
}

export interface AwsLcResult {
  symbols: TlsSymbol[];
  note: string;
}

/**
 * The AEAD functions' file offsets in a rustls-over-aws-lc binary, null when it has no
 * rustls or no aws-lc AEAD, or when seal and open were not both identified (said through
 * `log`: then nothing is hooked). Cached per binary (tlscache.ts).
 */
export function locateAwsLcAead(
  elf: ElfFile,
  log?: (msg: string) => void,
  opts: { cache?: boolean } = {},
): AwsLcResult | null {
  const files = findStrings(elf, AEAD_FILE);
  if (!files.length) return null;
  const useCache = opts.cache !== false;
  const key = useCache ? `awslc-${binaryKey(elf.path)}` : '';
  if (useCache) {
    const hit = cacheGet<{ result: AwsLcResult | null }>(key);
    if (hit && typeof hit === 'object' && 'result' in hit) return hit.result;
  }
  let result: AwsLcResult | null = null;
  if (hasRustls(elf)) {
    const t0 = Date.now();
    const a = analyseAwsLcAead(elf, { files, ...(log ? { log } : {}) })!;
    const symbols: TlsSymbol[] = [];
    for (const role of AEAD_ROLES) {
      const v = a.found[role];
      const offset = v === undefined ? null : elf.vaddrToOffset(v);
      if (offset !== null) symbols.push({ name: role, offset, method: 'heuristic' });
    }
    const bounds = [
      ...new Set(a.functions.filter((f) => Object.values(a.found).includes(f.start)).map((f) => f.bounds)),
    ];
    if (a.found.EVP_AEAD_CTX_seal !== undefined && a.found.EVP_AEAD_CTX_open !== undefined) {
      result = {
        symbols,
        note: `${a.versions.length ? `${a.versions.join(', ')}: ` : ''}aws-lc AEAD functions located by the errors they raise with aead.c, extents from ${bounds.join('/')}${a.note ? `; ${a.note}` : ''}`,
      };
    } else {
      log?.(
        `${elf.path}: rustls over aws-lc, but EVP_AEAD_CTX_seal and EVP_AEAD_CTX_open were not both identified (${a.functions.length} aead.c functions${a.note ? `; ${a.note}` : ''}): its TLS is not hooked`,
      );
    }
    if (elf.size > 32 << 20) log?.(`${elf.path}: scanned in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (useCache) cachePut(key, { path: elf.path, result });
  return result;
}
