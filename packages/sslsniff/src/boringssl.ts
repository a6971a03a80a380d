/**
 * Stripped static BoringSSL (Bun, and the Claude Code binary built on Bun): find SSL_write,
 * SSL_read and SSL_do_handshake in executables with no symbols and no unwind tables.
 *
 * No fixed prologue: such patterns break with every compiler or BoringSSL update. Instead we
 * use what BoringSSL's own source forces into the code. Every OPENSSL_PUT_ERROR(SSL, reason)
 * in ssl_lib.cc becomes a call ERR_put_error(ERR_LIB_SSL=16, [0,] reason, "…/ssl_lib.cc",
 * line), so the code that loads the address of the "ssl_lib.cc" string marks the functions
 * of that file and the immediate next to it says which error each raises:
 *   - SSL_write raises {66 SHOULD_NOT_HAVE_BEEN_CALLED (QUIC), 226 UNINITIALIZED,
 *     215 SSL_HANDSHAKE_FAILURE, ...};
 *   - ssl_read_impl raises 226 and 215 but not 66; SSL_peek/SSL_read raise a lone 66 and
 *     call ssl_read_impl (SSL_read may inline SSL_peek, or call it);
 *   - SSL_do_handshake is the ssl_lib.cc function both SSL_write and ssl_read_impl call.
 * Look-alikes that inline these (SSL_write_ex, SSL_read_ex, SSL_peek) are told apart by the
 * BAD_LENGTH check only SSL_write keeps and by how many call sites reach each function.
 * Function boundaries come from 16-byte-aligned addresses after int3 padding or a ret, or
 * that direct calls target (plus .eh_frame_hdr starts when present), each checked by
 * decoding forward (iced-x86) to the reference site on an instruction boundary. Functions
 * that are neither aligned nor called directly (clang -Os) are not found: no answer then,
 * rather than a wrong one, since SSL_read and SSL_write must both be identified.
 */
import { createRequire } from 'node:module';
import { type ElfFile, ehFrameFunctionStarts } from './elf.js';
import type { TlsSymbol } from './tls-libraries.js';
import { binaryKey, cacheGet, cachePut } from './tlscache.js';

const require = createRequire(import.meta.url);
// iced-x86 is a CommonJS wasm-bindgen module; loaded lazily since most targets never need it.
type Iced = typeof import('iced-x86');
let iced: Iced | undefined;
function loadIced(): Iced {
  return (iced ??= require('iced-x86') as Iced);
}

export interface BoringSslResult {
  symbols: TlsSymbol[];
  note?: string;
}

const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;
let CHUNK = 16 << 20;
/** Scan chunk size: tests shrink it so patterns straddle chunk edges. Returns the old size. */
export function setScanChunk(bytes: number): number {
  const old = CHUNK;
  CHUNK = bytes;
  return old;
}

export const ERR_LIB_SSL = 16;
export const REASON = {
  SHOULD_NOT_HAVE_BEEN_CALLED: 66,
  UNINITIALIZED: 226,
  SSL_HANDSHAKE_FAILURE: 215,
  BAD_LENGTH: 111,
} as const;

export interface Region {
  vaddr: number;
  offset: number;
  size: number;
}

/** Read-only data and code regions, from sections when present, else from PT_LOAD. */
export function regions(elf: ElfFile, exec: boolean): Region[] {
  const secs = elf.sections.filter((s) => s.flags & SHF_ALLOC && s.type !== 8 && s.size > 0 && s.addr > 0);
  if (secs.length) {
    return secs
      .filter((s) => !!(s.flags & SHF_EXECINSTR) === exec && (exec || !((s.flags & 1) /* SHF_WRITE */)))
      .map((s) => ({ vaddr: s.addr, offset: s.offset, size: s.size }));
  }
  return elf.programHeaders
    .filter((p) => p.type === 1 && !!(p.flags & 1) === exec && (exec || !(p.flags & 2)))
    .map((p) => ({ vaddr: p.vaddr, offset: p.offset, size: p.filesz }));
}

/**
 * Calls fn over a region in chunks, each with `margin` bytes of context on both sides (so a
 * pattern and what precedes it can span chunk edges); fn owns the positions [from, limit).
 */
export function scanRegion(
  elf: ElfFile,
  r: Region,
  margin: number,
  fn: (buf: Buffer, vaddr: number, from: number, limit: number) => void,
): void {
  for (let pos = 0; pos < r.size; pos += CHUNK) {
    const back = Math.min(pos, margin);
    const buf = elf.read(r.offset + pos - back, Math.min(CHUNK + margin, r.size - pos) + back);
    fn(buf, r.vaddr + pos - back, back, Math.min(back + CHUNK, buf.length));
  }
}

/** Virtual addresses of NUL-terminated strings ending in `suffix` (e.g. a __FILE__ path). */
export function findStrings(elf: ElfFile, suffix: string): number[] {
  const needle = Buffer.from(suffix + '\0', 'latin1');
  const out = new Set<number>();
  for (const r of regions(elf, false)) {
    scanRegion(elf, r, 4096, (buf, base, from, limit) => {
      for (let i = buf.indexOf(needle, from); i >= 0 && i < limit; i = buf.indexOf(needle, i + 1)) {
        // A path separator or the string start must precede, so "xssl_lib.cc" does not count.
        if (i > 0 && buf[i - 1] !== 0x2f && buf[i - 1] !== 0) continue;
        let s = i;
        while (s > 0 && buf[s - 1] !== 0 && i - s < 4000) s--;
        out.add(base + s);
      }
    });
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Instructions that load one of `targets` into a register: `mov r32, imm32` (non-PIE code),
 * `mov r64, simm32`, or a RIP-relative `lea`. Returns the instruction addresses.
 */
export function findAddressLoads(elf: ElfFile, targets: number[]): number[] {
  const want = new Set(targets);
  const sites = new Set<number>();
  const imms = targets
    .filter((t) => t < 2 ** 31)
    .map((t) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(t);
      return b;
    });
  for (const r of regions(elf, true)) {
    scanRegion(elf, r, 16, (buf, base, from, limit) => {
      for (const imm of imms) {
        for (let i = buf.indexOf(imm, Math.max(from, 1)); i >= 0 && i < limit; i = buf.indexOf(imm, i + 1)) {
          const op = buf[i - 1]!;
          if (op >= 0xb8 && op <= 0xbf) sites.add(base + i - (i >= 2 && buf[i - 2] === 0x41 ? 2 : 1));
          else if (i >= 3 && (op & 0xf8) === 0xc0 && buf[i - 2] === 0xc7 && (buf[i - 3]! & 0xfe) === 0x48)
            sites.add(base + i - 3);
        }
      }
      // lea r64, [rip+disp32]: REX.W(+R) 8D modrm(mod=00, rm=101)
      const end = Math.min(limit, buf.length - 7);
      for (let i = buf.indexOf(0x8d, from + 1) - 1; i >= 0 && i < end; i = buf.indexOf(0x8d, i + 2) - 1) {
        const rex = buf[i]!;
        if ((rex === 0x48 || rex === 0x4c) && (buf[i + 2]! & 0xc7) === 0x05) {
          const t = base + i + 7 + buf.readInt32LE(i + 3);
          if (want.has(t)) sites.add(base + i);
        }
      }
    });
  }
  return [...sites].sort((a, b) => a - b);
}

/**
 * 16-byte-aligned targets of direct calls (E8 rel32) anywhere in the code. A raw byte scan
 * also sees E8 bytes inside other instructions; requiring alignment and a target inside the
 * code keeps those to a few false starts, which the decode checks below then reject.
 */
export function callTargets(elf: ElfFile): Map<number, number> {
  const out = new Map<number, number>();
  const code = regions(elf, true);
  const inCode = (t: number) => code.some((r) => t >= r.vaddr && t < r.vaddr + r.size);
  for (const r of code) {
    scanRegion(elf, r, 8, (buf, base, from, limit) => {
      const end = Math.min(limit, buf.length - 5);
      for (let i = buf.indexOf(0xe8, from); i >= 0 && i < end; i = buf.indexOf(0xe8, i + 1)) {
        const t = base + i + 5 + buf.readInt32LE(i + 1);
        if ((t & 15) === 0 && inCode(t)) out.set(t, (out.get(t) ?? 0) + 1);
      }
    });
  }
  return out;
}

/** A window of code bytes around an address, read on demand. */
export class CodeWindow {
  /**
   * `calls`: aligned direct-call targets and how many call sites each has; `unwindStarts`:
   * exact function starts from unwind tables when the binary has them (used alongside).
   */
  constructor(
    private elf: ElfFile,
    readonly calls: Map<number, number> = new Map(),
    readonly unwindStarts?: Set<number>,
  ) {}
  /** Could a function start here: aligned, and after int3 padding or a ret, or called directly. */
  isStart(vaddr: number, prevByte: number): boolean {
    if (this.unwindStarts?.has(vaddr)) return true;
    if (vaddr & 15) return false;
    return prevByte === 0xcc || prevByte === 0xc3 || this.calls.has(vaddr);
  }
  bytes(vaddr: number, len: number): Buffer {
    const off = this.elf.vaddrToOffset(vaddr);
    return off === null ? Buffer.alloc(0) : this.elf.read(off, len);
  }
}

/** True when decoding from `start` lands on `site` exactly (no instruction straddles it). */
function decodesTo(code: CodeWindow, start: number, site: number): boolean {
  if (site - start > 1 << 16) return false;
  const I = loadIced();
  const buf = code.bytes(start, site - start + 16);
  const d = new I.Decoder(64, buf, 0);
  const ins = new I.Instruction();
  try {
    d.ip = BigInt(start);
    let ip = start;
    while (ip < site && d.canDecode) {
      d.decodeOut(ins);
      if (ins.code === I.Code.INVALID) return false;
      ip += ins.length;
    }
    return ip === site;
  } finally {
    ins.free();
    d.free();
  }
}

/**
 * The start of the function containing `site`: the nearest 16-byte-aligned address at or
 * below it that follows int3 padding (or a ret/jmp then nop padding), from which decoding
 * reaches `site` on an instruction boundary.
 */
export function functionStart(code: CodeWindow, site: number, maxBack = 1 << 16): number | null {
  const lo = Math.max(0, site - maxBack);
  const buf = code.bytes(lo, site - lo + 1);
  for (let a = site & ~15; a > lo; a -= 16) {
    if (!code.isStart(a, buf[a - lo - 1]!)) continue;
    if (decodesTo(code, a, site)) return a;
  }
  return null;
}

export interface SslLibFunction {
  start: number;
  end: number;
  /** Error reasons raised with the ssl_lib.cc file string, in code order. */
  reasons: number[];
  /** The source lines (__LINE__) of those errors, where the code loads them as immediates. */
  lines: number[];
  /** Direct call targets. */
  callees: Set<number>;
}

const alignUp = (a: number) => (a + 15) & ~15;
// Bytes of the nop forms compilers pad with (90, 66 90, 0f 1f /0, 66 2e 0f 1f 84 ...).
const NOP_BYTES = new Set([0x90, 0x66, 0x2e, 0x0f, 0x1f, 0x00, 0x40, 0x44, 0x80, 0x84, 0xcc]);

/**
 * After a ret or jmp: does the next function begin at the following 16-byte boundary? Only
 * padding may lie in between, and the boundary must be a direct call target (a function
 * ending exactly on a boundary leaves no padding to recognise).
 */
function endsHere(code: CodeWindow, buf: Buffer, start: number, end: number): boolean {
  const e = alignUp(end);
  if (e - start >= buf.length) return false;
  for (let a = end; a < e; a++) if (!NOP_BYTES.has(buf[a - start]!)) return false;
  if (code.unwindStarts?.has(end)) return true;
  return code.calls.has(e) || (e > end && buf[e - start - 1] === 0xcc) || !!code.unwindStarts?.has(e);
}

const ARG_REGS = ['RDI', 'RSI', 'RDX', 'RCX', 'R8', 'R9'] as const;

/** Index 0-5 of the System V integer argument register an operand register belongs to, or -1. */
function argIndex(I: Iced, reg: number): number {
  const name = I.Register[reg] as string | undefined;
  if (!name) return -1;
  const full: Record<string, string> = { EDI: 'RDI', ESI: 'RSI', EDX: 'RDX', ECX: 'RCX', R8D: 'R8', R9D: 'R9' };
  return ARG_REGS.indexOf((full[name] ?? name) as (typeof ARG_REGS)[number]);
}

export interface AnalyseOptions {
  /** The ERR_LIB_* the errors are raised under (default ERR_LIB_SSL). */
  errLib?: number;
  /** `maxLen` is the function's exact length (from unwind tables): decode all of it. */
  exact?: boolean;
}

/**
 * Decode one function from `start` until int3 padding that reaches a 16-byte boundary, and
 * collect the error reasons it raises with one of `files` and the functions it calls.
 */
export function analyseFunction(
  code: CodeWindow,
  start: number,
  files: Set<number>,
  maxLen = 1 << 15,
  opts: AnalyseOptions = {},
): SslLibFunction {
  const errLib = opts.errLib ?? ERR_LIB_SSL;
  const exact = !!opts.exact;
  const I = loadIced();
  const buf = code.bytes(start, maxLen);
  const d = new I.Decoder(64, buf, 0);
  const ins = new I.Instruction();
  const bySite = new Map<number, number>();
  const lineBySite = new Map<number, number>();
  const callees = new Set<number>();
  // Most recent immediate loaded into each argument register, and the instruction index.
  const regVal: Array<{ v: number; at: number } | undefined> = [];
  let end = start;
  try {
    d.ip = BigInt(start);
    let n = 0;
    while (d.canDecode) {
      d.decodeOut(ins);
      n++;
      const ip = Number(ins.ip);
      end = ip + ins.length;
      if (ins.code === I.Code.INVALID) break;
      const fc = ins.flowControl;
      if (ins.code === I.Code.Int3 && !exact) {
        // Padding: stop at the aligned end of the run.
        let e = end;
        while (e % 16 !== 0 && buf[e - start] === 0xcc) e++;
        if (e % 16 === 0) {
          end = e;
          break;
        }
        continue;
      }
      // OPENSSL_PUT_ERROR sites often set up their arguments and jump to one shared call, so
      // the arguments are read at every call or jump, keyed by where the file was loaded.
      if (fc === I.FlowControl.Call || fc === I.FlowControl.UnconditionalBranch) {
        const vals = ARG_REGS.map((_, k) => (regVal[k] && n - regVal[k]!.at <= 12 ? regVal[k] : undefined));
        const fileIdx = vals.findIndex((v) => v !== undefined && files.has(v.v));
        if (fileIdx >= 2 && vals[0]?.v === errLib) {
          const reason = vals[fileIdx - 1];
          if (reason !== undefined) bySite.set(vals[fileIdx]!.at, reason.v);
          const line = vals[fileIdx + 1];
          if (line !== undefined) lineBySite.set(vals[fileIdx]!.at, line.v);
        }
        if (fc === I.FlowControl.Call) callees.add(Number(ins.nearBranch64));
        regVal.length = 0;
        if (fc === I.FlowControl.UnconditionalBranch && !exact && endsHere(code, buf, start, end)) {
          end = alignUp(end);
          break;
        }
        continue;
      }
      if (fc === I.FlowControl.Return) {
        if (!exact && endsHere(code, buf, start, end)) {
          end = alignUp(end);
          break;
        }
        continue;
      }
      if (fc === I.FlowControl.IndirectCall) {
        regVal.length = 0;
        continue;
      }
      const dst = ins.op0Kind === I.OpKind.Register ? argIndex(I, ins.op0Register) : -1;
      if (dst < 0) continue;
      const code0 = ins.code;
      if (code0 === I.Code.Mov_r32_imm32 || code0 === I.Code.Mov_r64_imm64) {
        regVal[dst] = { v: Number(code0 === I.Code.Mov_r32_imm32 ? ins.immediate32 : ins.immediate64), at: n };
      } else if (code0 === I.Code.Mov_rm64_imm32) {
        regVal[dst] = { v: Number(ins.immediate32to64), at: n };
      } else if (
        (code0 === I.Code.Xor_rm32_r32 || code0 === I.Code.Xor_r32_rm32) &&
        ins.op1Kind === I.OpKind.Register &&
        argIndex(I, ins.op1Register) === dst
      ) {
        regVal[dst] = { v: 0, at: n };
      } else if (code0 === I.Code.Lea_r64_m && ins.memoryBase === I.Register.RIP) {
        regVal[dst] = { v: Number(ins.memoryDisplacementU64), at: n };
      } else {
        regVal[dst] = undefined;
      }
    }
  } finally {
    ins.free();
    d.free();
  }
  return { start, end, reasons: [...bySite.values()], lines: [...lineBySite.values()], callees };
}

export interface BoringSslAnalysis {
  files: number[];
  sites: number[];
  functions: SslLibFunction[];
  ssl_write?: number;
  ssl_read?: number;
  ssl_do_handshake?: number;
  ssl_read_impl?: number;
  note?: string;
}

const has = (f: SslLibFunction, r: number) => f.reasons.includes(r);

/** The ssl_lib.cc functions of a binary and which of them are SSL_write/SSL_read/SSL_do_handshake. */
export function analyseBoringSsl(
  elf: ElfFile,
  opts: { log?: (msg: string) => void; useUnwind?: boolean; files?: number[] } = {},
): BoringSslAnalysis | null {
  const { log } = opts;
  const files = opts.files ?? findStrings(elf, 'ssl_lib.cc');
  if (!files.length) return null;
  if (elf.size > 32 << 20)
    log?.(
      `${elf.path}: ${(elf.size / 1048576).toFixed(0)} MB, stripped BoringSSL: scanning its code for SSL_read/SSL_write (can take seconds; cached afterwards)`,
    );
  const sites = findAddressLoads(elf, files);
  const unwind = opts.useUnwind === false ? null : ehFrameFunctionStarts(elf);
  const code = new CodeWindow(elf, callTargets(elf), unwind ? new Set(unwind) : undefined);
  const fileSet = new Set(files);
  const byStart = new Map<number, SslLibFunction>();
  for (const s of sites) {
    const start = functionStart(code, s);
    if (start === null || byStart.has(start)) continue;
    const f = analyseFunction(code, start, fileSet);
    if (f.end > s) byStart.set(start, f);
  }
  const functions = [...byStart.values()].sort((a, b) => a.start - b.start);
  const result: BoringSslAnalysis = { files, sites, functions };

  const { SHOULD_NOT_HAVE_BEEN_CALLED: QUIC, UNINITIALIZED: UNINIT, SSL_HANDSHAKE_FAILURE: HSFAIL } = REASON;
  const callers = (f: SslLibFunction) => code.calls.get(f.start) ?? 0;
  const writes = functions.filter((f) => has(f, QUIC) && has(f, UNINIT) && has(f, HSFAIL));
  const readImpls = functions.filter((f) => !has(f, QUIC) && has(f, UNINIT) && has(f, HSFAIL));
  if (writes.length === 1) {
    result.ssl_write = writes[0]!.start;
  } else if (writes.length > 1) {
    // SSL_write inlined into SSL_write_ex gives a second function with the same errors, but
    // SSL_write_ex clamps its size_t length, so the compiler drops SSL_write's negative-length
    // check (111 BAD_LENGTH) there. Failing that, the wrapper is the larger one.
    // Then the one the application calls from more places, then the smaller.
    writes.sort(
      (a, b) =>
        Number(has(b, REASON.BAD_LENGTH)) - Number(has(a, REASON.BAD_LENGTH)) ||
        callers(b) - callers(a) ||
        a.end - a.start - (b.end - b.start),
    );
    result.ssl_write = writes[0]!.start;
    if (
      has(writes[0]!, REASON.BAD_LENGTH) === has(writes[1]!, REASON.BAD_LENGTH) &&
      callers(writes[0]!) === callers(writes[1]!)
    ) {
      result.note = `${writes.length} functions raise SSL_write's errors; took the smallest`;
    }
  }
  if (readImpls.length === 1) {
    const impl = readImpls[0]!;
    result.ssl_read_impl = impl.start;
    // SSL_peek and SSL_read both raise only the QUIC error and call ssl_read_impl (SSL_read
    // inlines SSL_peek), and so does SSL_read_ex when it inlines SSL_read. The application
    // calls SSL_read, from several places, the others seldom or never (the linker usually
    // drops them); among equals SSL_read, which consumes what SSL_peek returns, is larger than
    // SSL_peek. Should the one found be SSL_peek called by SSL_read, its buffer still holds
    // the same plaintext when it returns.
    const readers = functions.filter(
      (f) => f.reasons.length > 0 && f.reasons.every((r) => r === QUIC) && f.callees.has(impl.start),
    );
    readers.sort((a, b) => callers(b) - callers(a) || b.end - b.start - (a.end - a.start));
    if (readers.length) result.ssl_read = readers[0]!.start;
    if (result.ssl_write !== undefined) {
      const w = byStart.get(result.ssl_write)!;
      const common = [...w.callees].filter((c) => impl.callees.has(c) && byStart.has(c));
      if (common.length === 1) result.ssl_do_handshake = common[0]!;
    }
  }
  return result;
}

/**
 * SSL_write/SSL_read/SSL_do_handshake file offsets in a stripped static BoringSSL binary,
 * or null when it carries no BoringSSL. Results are cached per binary (tlscache.ts).
 */
export function locateBoringSsl(
  elf: ElfFile,
  log?: (msg: string) => void,
  opts: { cache?: boolean } = {},
): BoringSslResult | null {
  const files = findStrings(elf, 'ssl_lib.cc');
  if (!files.length) return null;
  const useCache = opts.cache !== false;
  const key = useCache ? binaryKey(elf.path) : '';
  if (useCache) {
    const hit = cacheGet<{ result: BoringSslResult | null }>(key);
    if (hit && typeof hit === 'object' && 'result' in hit) return hit.result;
  }
  const t0 = Date.now();
  const a = analyseBoringSsl(elf, { files, ...(log ? { log } : {}) });
  const symbols: TlsSymbol[] = [];
  const add = (name: string, vaddr: number | undefined) => {
    if (vaddr === undefined) return;
    const offset = elf.vaddrToOffset(vaddr);
    if (offset !== null) symbols.push({ name, offset, method: 'heuristic' });
  };
  add('SSL_write', a?.ssl_write);
  add('SSL_read', a?.ssl_read);
  add('SSL_do_handshake', a?.ssl_do_handshake);
  let result: BoringSslResult | null = null;
  if (symbols.some((s) => s.name === 'SSL_write') && symbols.some((s) => s.name === 'SSL_read')) {
    result = { symbols, ...(a?.note ? { note: a.note } : {}) };
  } else {
    log?.(
      `${elf.path}: references BoringSSL's ssl_lib.cc but SSL_read/SSL_write were not identified (${a?.functions.length ?? 0} candidate functions)`,
    );
  }
  if (elf.size > 32 << 20) log?.(`${elf.path}: scanned in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (useCache) cachePut(key, { path: elf.path, result });
  return result;
}
