/**
 * Go crypto/tls: where (*Conn).Write and (*Conn).Read start in a Go binary, and where they
 * return.
 *
 * Go programs carry no SSL_* boundary and, stripped, no ELF symbols. But the runtime needs
 * its own symbol table, pclntab, for tracebacks, stack copying and the GC, so every Go
 * binary keeps it, `-ldflags=-s -w` included (that drops .symtab and DWARF only). It is
 * found by its section, .gopclntab, or, where the linker left it unnamed (external linking,
 * PIE: inside .data.rel.ro), by scanning read-only data for its header, which is then
 * checked field by field. Header versions read: Go 1.16-1.17 (magic 0xfffffffa), 1.18-1.19
 * (0xfffffff0) and 1.20 onward (0xfffffff1, the 1.18 layout with a field added to each
 * function record after the two read here).
 *
 * The exits are probed at the functions' RET instructions, not with uretprobes: a
 * uretprobe swaps the return address on the stack for a trampoline, and Go copies a
 * goroutine's stack when it grows (and the GC shrinks stacks), which breaks that swap. The
 * RETs are found by decoding the function's machine code (iced-x86) from its entry to the
 * next function's. Hooked only for Go 1.17 on (the register ABI the BPF side reads).
 */
import { createRequire } from 'node:module';
import type { ElfFile } from './elf.js';
import type { TlsSymbol } from './tls-libraries.js';

const require = createRequire(import.meta.url);
type Iced = typeof import('iced-x86');
let iced: Iced | undefined;
const loadIced = (): Iced => (iced ??= require('iced-x86') as Iced);

export const PCLNTAB_MAGIC = { go116: 0xfffffffa, go118: 0xfffffff0, go120: 0xfffffff1 } as const;
const MAGICS = new Set<number>(Object.values(PCLNTAB_MAGIC));

export interface GoFunc {
  name: string;
  /** Virtual address of the first instruction. */
  entry: number;
  /** Where the next function starts (the end of this one's code and padding). */
  end: number;
}

export class GoSymtabError extends Error {
  override name = 'GoSymtabError';
}

const u64 = (b: Buffer, o: number): number => {
  if (o + 8 > b.length) throw new GoSymtabError(`pclntab: field at ${o} beyond its end`);
  const v = b.readBigUInt64LE(o);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GoSymtabError(`pclntab: field at ${o} out of range`);
  return Number(v);
};

/** A parsed pclntab: the function table and names, read on demand. */
export class Pclntab {
  readonly magic: number;
  readonly nfunc: number;
  readonly textStart: number;
  readonly #data: Buffer;
  readonly #funcnames: number;
  readonly #functab: number;
  /** Bytes per function table entry field: uint32 offsets from 1.18, pointers before. */
  readonly #wide: boolean;

  /**
   * `data` starts at the header; `text` is the .text address, used when the header's
   * textStart is zero (a PIE binary, where it is filled in by a relocation at load).
   */
  constructor(data: Buffer, text = 0) {
    if (data.length < 72) throw new GoSymtabError('pclntab: too short');
    const magic = data.readUInt32LE(0);
    if (!MAGICS.has(magic)) throw new GoSymtabError(`pclntab: unknown magic 0x${magic.toString(16)}`);
    if (data[4] !== 0 || data[5] !== 0) throw new GoSymtabError('pclntab: bad header padding');
    if (![1, 2, 4].includes(data[6]!) || data[7] !== 8)
      throw new GoSymtabError(`pclntab: not a 64-bit table (quantum ${data[6]}, pointer size ${data[7]})`);
    this.magic = magic;
    this.#data = data;
    this.nfunc = u64(data, 8);
    this.#wide = magic === PCLNTAB_MAGIC.go116;
    // 1.16: nfunc, nfiles, funcname, cu, filetab, pctab, functab. 1.18 adds textStart after nfiles.
    const f = this.#wide ? 24 : 32;
    this.textStart = this.#wide ? 0 : u64(data, 24) || text;
    this.#funcnames = u64(data, f);
    const offs = [this.#funcnames, u64(data, f + 8), u64(data, f + 16), u64(data, f + 24), u64(data, f + 32)];
    this.#functab = offs[4]!;
    for (let i = 1; i < offs.length; i++)
      if (offs[i]! < offs[i - 1]!) throw new GoSymtabError('pclntab: table offsets out of order');
    if (this.nfunc === 0 || this.nfunc > 1 << 22) throw new GoSymtabError(`pclntab: implausible nfunc ${this.nfunc}`);
    if (this.#functab + (this.nfunc + 1) * this.#entrySize > data.length)
      throw new GoSymtabError('pclntab: function table beyond the data');
    if (!this.#wide && this.textStart === 0) throw new GoSymtabError('pclntab: text start unknown');
  }

  get #entrySize(): number {
    return this.#wide ? 16 : 8;
  }

  /** Go version family of the header, for messages. */
  get format(): string {
    return this.magic === PCLNTAB_MAGIC.go116 ? 'go1.16' : this.magic === PCLNTAB_MAGIC.go118 ? 'go1.18' : 'go1.20';
  }

  /** Entry address of function i (i = nfunc: the end of the last one). */
  entry(i: number): number {
    const o = this.#functab + i * this.#entrySize;
    return this.#wide ? u64(this.#data, o) : this.textStart + this.#data.readUInt32LE(o);
  }

  /** Offset of function i's name in the data. */
  #nameAt(i: number): number {
    const o = this.#functab + i * this.#entrySize;
    const funcoff = this.#wide ? u64(this.#data, o + 8) : this.#data.readUInt32LE(o + 4);
    const rec = this.#functab + funcoff;
    const nameoff = this.#data.readInt32LE(rec + (this.#wide ? 8 : 4));
    return this.#funcnames + nameoff;
  }

  name(i: number): string {
    const at = this.#nameAt(i);
    const end = this.#data.indexOf(0, at);
    return this.#data.toString('latin1', at, end < 0 ? this.#data.length : end);
  }

  /** The functions of these names (a name the binary lacks is absent from the result). */
  find(names: Iterable<string>): Map<string, GoFunc> {
    const want = new Map<string, Buffer>([...names].map((n) => [n, Buffer.from(`${n}\0`, 'latin1')]));
    const out = new Map<string, GoFunc>();
    for (let i = 0; i < this.nfunc && out.size < want.size; i++) {
      const at = this.#nameAt(i);
      if (at < 0 || at >= this.#data.length) continue;
      for (const [n, b] of want) {
        if (out.has(n) || this.#data[at] !== b[0] || !this.#data.subarray(at, at + b.length).equals(b)) continue;
        out.set(n, { name: n, entry: this.entry(i), end: this.entry(i + 1) });
      }
    }
    return out;
  }

  /** A plausibility check for a header found by scanning: ascending entries, printable names. */
  looksValid(): boolean {
    try {
      const n = Math.min(this.nfunc, 16);
      let prev = 0;
      for (let i = 0; i <= n; i++) {
        const e = this.entry(i);
        if (e < prev) return false;
        prev = e;
      }
      for (let i = 0; i < n; i++) if (!/^[\x21-\x7e]+$/.test(this.name(i))) return false;
      return true;
    } catch {
      return false;
    }
  }
}

const SHF_ALLOC = 2;
const SHF_EXECINSTR = 4;

/** Does this file look like a Go program (its build id note, build info or pclntab section)? */
export function isGoBinary(elf: ElfFile): boolean {
  if (elf.sections.some((s) => s.name === '.gopclntab' || s.name === '.go.buildinfo' || s.name === '.note.go.buildid'))
    return true;
  // No section headers: the Go build id note ("Go", type 4) through the program headers.
  for (const p of elf.programHeaders) {
    if (p.type !== 4 /* PT_NOTE */ || p.filesz > 4096) continue;
    const d = elf.read(p.offset, p.filesz);
    for (let o = 0; o + 12 <= d.length; ) {
      const namesz = d.readUInt32LE(o);
      const descsz = d.readUInt32LE(o + 4);
      if (d.readUInt32LE(o + 8) === 4 && namesz === 3 && d.toString('latin1', o + 12, o + 14) === 'Go') return true;
      o += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

/** The Go version the binary was built with ("go1.19.8"), from .go.buildinfo, when readable. */
export function goVersion(elf: ElfFile): string | undefined {
  const s = elf.section('.go.buildinfo');
  if (!s || s.type === 8) return undefined;
  const d = elf.read(s.offset, Math.min(s.size, 4096));
  if (d.length < 32 || d.toString('latin1', 0, 14) !== '\xff Go buildinf:') return undefined;
  const ptrSize = d[14]!;
  const flags = d[15]!;
  if (flags & 2) {
    // 1.18 on: the version string inline after the 32-byte header, uvarint length first.
    let len = 0;
    let shift = 0;
    let o = 32;
    while (o < d.length) {
      const b = d[o++]!;
      len |= (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    return len > 0 && len < 128 ? d.toString('latin1', o, o + len) : undefined;
  }
  // Before: a pointer to a Go string header (pointer, length).
  if (ptrSize !== 8 || flags & 1) return undefined;
  const str = (vaddr: number, n: number): Buffer => {
    const off = elf.vaddrToOffset(vaddr);
    return off === null ? Buffer.alloc(0) : elf.read(off, n);
  };
  const hdr = str(Number(d.readBigUInt64LE(16)), 16);
  if (hdr.length < 16) return undefined;
  const len = Number(hdr.readBigUInt64LE(8));
  return len > 0 && len < 128 ? str(Number(hdr.readBigUInt64LE(0)), len).toString('latin1') : undefined;
}

export interface FoundPclntab {
  tab: Pclntab;
  /** How it was found, for --list-targets: the section, or the scanned one. */
  where: string;
}

/** Data regions a pclntab may hide in: sections (likeliest first), else non-code PT_LOAD segments. */
function dataRegions(elf: ElfFile): Array<{ name: string; offset: number; size: number }> {
  const secs = elf.sections.filter(
    (s) => s.flags & SHF_ALLOC && !(s.flags & SHF_EXECINSTR) && s.type !== 8 && s.size > 0 && s.addr > 0,
  );
  const rank = (n: string) => {
    const i = ['.data.rel.ro', '.rodata', '.gopclntab'].indexOf(n);
    return i < 0 ? 9 : i;
  };
  if (secs.length)
    return secs
      .sort((a, b) => rank(a.name) - rank(b.name))
      .map((s) => ({ name: s.name || `section at 0x${s.addr.toString(16)}`, offset: s.offset, size: s.size }));
  return elf.programHeaders
    .filter((p) => p.type === 1 && !(p.flags & 1))
    .map((p) => ({ name: `segment at 0x${p.vaddr.toString(16)}`, offset: p.offset, size: p.filesz }));
}

/** The .text address: runtime.text, what a PIE pclntab's textStart is relative to. */
function textAddr(elf: ElfFile): number {
  return elf.section('.text')?.addr ?? 0;
}

/**
 * The binary's pclntab: its section, else the first header in read-only data that parses
 * and looks valid. `scan` forces the scan (tests; a section that does not parse falls back to it).
 */
export function findPclntab(elf: ElfFile, opts: { scan?: boolean } = {}): FoundPclntab | null {
  const sec = elf.section('.gopclntab');
  if (sec && !opts.scan && sec.type !== 8) {
    try {
      return { tab: new Pclntab(elf.sectionData(sec), textAddr(elf)), where: '.gopclntab' };
    } catch {
      /* scan below */
    }
  }
  const heads = [...MAGICS].map((m) => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(m, 0);
    b[6] = 1; // instruction quantum on x86
    b[7] = 8; // pointer size
    return b;
  });
  for (const r of dataRegions(elf)) {
    if (r.size > 1 << 30) continue;
    const d = elf.read(r.offset, r.size);
    for (const h of heads) {
      for (let at = d.indexOf(h); at >= 0; at = d.indexOf(h, at + 8)) {
        if (at % 8) continue; // the runtime aligns it
        try {
          const tab = new Pclntab(d.subarray(at), textAddr(elf));
          if (tab.looksValid()) return { tab, where: `scanned ${r.name}` };
        } catch {
          /* not it */
        }
      }
    }
  }
  return null;
}

/** Virtual addresses of the RET instructions in [entry, end) of decoded code. */
export function returnSites(code: Buffer, entry: number): number[] {
  const I = loadIced();
  const d = new I.Decoder(64, code, 0);
  const ins = new I.Instruction();
  const out: number[] = [];
  try {
    d.ip = BigInt(entry);
    while (d.canDecode) {
      d.decodeOut(ins);
      if (ins.code === I.Code.INVALID) break;
      if (ins.flowControl === I.FlowControl.Return) out.push(Number(ins.ip));
    }
  } finally {
    ins.free();
    d.free();
  }
  return out;
}

export interface GoTlsResult {
  symbols: TlsSymbol[];
  /** Version and where the symbol table was, for --list-targets. */
  note: string;
}

/** The oldest Go whose calls pass arguments in registers (the BPF programs read those). */
const REGISTER_ABI = [1, 17] as const;

/** Built with Go's register ABI? A version not known (no build info) is decided elsewhere. */
export function hasRegisterAbi(version: string | undefined): boolean {
  const m = /^go(\d+)\.(\d+)/.exec(version ?? '');
  if (!version) return true;
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > REGISTER_ABI[0] || (maj === REGISTER_ABI[0] && min >= REGISTER_ABI[1]);
}

/**
 * The given crypto/tls functions in a Go binary, with their entries and RET instructions as
 * file offsets; null (with a line to `log` saying why, when it is a Go binary) when they
 * cannot be hooked.
 */
export function locateGoTls(
  elf: ElfFile,
  functions: readonly string[],
  log?: (msg: string) => void,
  opts: { scan?: boolean } = {},
): GoTlsResult | null {
  if (!isGoBinary(elf)) return null;
  const version = goVersion(elf);
  if (!hasRegisterAbi(version)) {
    log?.(`${elf.path}: built with ${version}, before Go's register ABI (1.17): its TLS is not hooked`);
    return null;
  }
  const found = findPclntab(elf, opts);
  if (!found) {
    log?.(`${elf.path}: a Go binary, but its symbol table (pclntab) was not found`);
    return null;
  }
  if (!version && found.tab.format === 'go1.16') {
    // Go 1.16 and 1.17 share this table format, and only 1.17 passes arguments in registers.
    log?.(`${elf.path}: a Go 1.16 or 1.17 binary of unknown version: its TLS is not hooked`);
    return null;
  }
  const fns = found.tab.find(functions);
  if (!fns.size) return null; // a Go program without crypto/tls
  const symbols: TlsSymbol[] = [];
  for (const name of functions) {
    const f = fns.get(name);
    if (!f) continue;
    const offset = elf.vaddrToOffset(f.entry);
    if (offset === null || !elf.isExecutable(f.entry) || f.end <= f.entry || f.end - f.entry > 1 << 20) {
      log?.(`${elf.path}: ${name} at 0x${f.entry.toString(16)} is not in the code`);
      return null;
    }
    const rets = returnSites(elf.read(offset, f.end - f.entry), f.entry);
    const returns = rets.map((a) => elf.vaddrToOffset(a)).filter((o): o is number => o !== null);
    if (!returns.length) {
      log?.(`${elf.path}: ${name}: no return instruction found; not hooked`);
      return null;
    }
    symbols.push({ name, offset, method: 'pclntab', returns });
  }
  return { symbols, note: `${version ?? `Go (${found.tab.format} symbol table)`}, pclntab in ${found.where}` };
}
