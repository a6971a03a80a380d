/**
 * A small ELF64 little-endian reader that reads only what it is asked for, by positioned
 * reads on a file descriptor: the binaries we inspect reach 250 MB (Claude Code) and
 * most of them never need more than their headers and symbol tables.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export const PT_LOAD = 1;
export const PF_X = 1;
export const SHT_SYMTAB = 2;
export const SHT_DYNSYM = 11;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const STT_FUNC = 2;
export const STT_GNU_IFUNC = 10;
export const ET_EXEC = 2;
export const ET_DYN = 3;

export interface ElfProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSection {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

export class ElfError extends Error {
  override name = 'ElfError';
}

/** 64-bit values that matter here (addresses, offsets) fit in 2^53; anything larger is corrupt. */
function u64(buf: Buffer, off: number): number {
  const v = buf.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`64-bit field out of range at ${off}`);
  return Number(v);
}

export class ElfFile {
  readonly path: string;
  readonly size: number;
  readonly type: number;
  readonly machine: number;
  readonly entry: number;
  readonly programHeaders: ElfProgramHeader[];
  readonly sections: ElfSection[];
  private fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
    this.size = fstatSync(fd).size;
    const eh = this.read(0, 64);
    if (eh.length < 64 || eh.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(`${path}: not an ELF file`);
    if (eh[4] !== 2) throw new ElfError(`${path}: not a 64-bit ELF file`);
    if (eh[5] !== 1) throw new ElfError(`${path}: not a little-endian ELF file`);
    this.type = eh.readUInt16LE(16);
    this.machine = eh.readUInt16LE(18);
    this.entry = u64(eh, 24);
    const phoff = u64(eh, 32);
    const shoff = u64(eh, 40);
    const phentsize = eh.readUInt16LE(54);
    const phnum = eh.readUInt16LE(56);
    const shentsize = eh.readUInt16LE(58);
    let shnum = eh.readUInt16LE(60);
    let shstrndx = eh.readUInt16LE(62);

    this.programHeaders = [];
    if (phoff && phnum) {
      if (phentsize < 56) throw new ElfError(`${path}: bad program header size ${phentsize}`);
      const ph = this.readExact(phoff, phentsize * phnum, 'program headers');
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        this.programHeaders.push({
          type: ph.readUInt32LE(o),
          flags: ph.readUInt32LE(o + 4),
          offset: u64(ph, o + 8),
          vaddr: u64(ph, o + 16),
          filesz: u64(ph, o + 32),
          memsz: u64(ph, o + 40),
        });
      }
    }

    this.sections = [];
    if (shoff) {
      if (shentsize < 64) throw new ElfError(`${path}: bad section header size ${shentsize}`);
      // Extended numbering: the real counts live in section 0 when they overflow 16 bits.
      if (shnum === 0 || shstrndx === 0xffff) {
        const s0 = this.readExact(shoff, 64, 'section header 0');
        if (shnum === 0) shnum = u64(s0, 32);
        if (shstrndx === 0xffff) shstrndx = s0.readUInt32LE(40);
      }
      if (shnum > 65536 * 4) throw new ElfError(`${path}: implausible section count ${shnum}`);
      const sh = this.readExact(shoff, shentsize * shnum, 'section headers');
      const raw: Array<ElfSection & { nameOff: number }> = [];
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize;
        raw.push({
          nameOff: sh.readUInt32LE(o),
          name: '',
          type: sh.readUInt32LE(o + 4),
          flags: u64(sh, o + 8),
          addr: u64(sh, o + 16),
          offset: u64(sh, o + 24),
          size: u64(sh, o + 32),
          link: sh.readUInt32LE(o + 40),
          entsize: u64(sh, o + 56),
        });
      }
      const strs = shstrndx < raw.length ? this.sectionData(raw[shstrndx]!) : Buffer.alloc(0);
      for (const s of raw) {
        const { nameOff, ...sec } = s;
        sec.name = cstring(strs, nameOff);
        this.sections.push(sec);
      }
    }
  }

  static open(path: string): ElfFile {
    const fd = openSync(path, 'r');
    try {
      return new ElfFile(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** Up to `len` bytes at `offset`; shorter at end of file. */
  read(offset: number, len: number): Buffer {
    const n = Math.max(0, Math.min(len, this.size - offset));
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const r = readSync(this.fd, buf, got, n - got, offset + got);
      if (r === 0) break;
      got += r;
    }
    return got === n ? buf : buf.subarray(0, got);
  }

  private readExact(offset: number, len: number, what: string): Buffer {
    if (offset + len > this.size) throw new ElfError(`${this.path}: ${what} beyond end of file`);
    return this.read(offset, len);
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  sectionData(s: ElfSection): Buffer {
    if (s.type === SHT_NOBITS) return Buffer.alloc(0);
    return this.readExact(s.offset, s.size, `section ${s.name || s.offset}`);
  }

  /**
   * Symbols of the .dynsym or .symtab table; `wanted` keeps only those names (the table is
   * still walked whole, but names are decoded only when their first bytes could match).
   */
  symbols(kind: 'dynsym' | 'symtab', wanted?: ReadonlySet<string>): ElfSymbol[] {
    const type = kind === 'dynsym' ? SHT_DYNSYM : SHT_SYMTAB;
    const out: ElfSymbol[] = [];
    for (const sec of this.sections) {
      if (sec.type !== type || sec.size === 0) continue;
      const strSec = this.sections[sec.link];
      if (!strSec) continue;
      const syms = this.sectionData(sec);
      const strs = this.sectionData(strSec);
      const ent = sec.entsize || 24;
      let firstBytes: Set<number> | undefined;
      if (wanted) firstBytes = new Set([...wanted].map((w) => w.charCodeAt(0)));
      for (let o = ent; o + 24 <= syms.length; o += ent) {
        const nameOff = syms.readUInt32LE(o);
        if (nameOff === 0 || nameOff >= strs.length) continue;
        if (firstBytes && !firstBytes.has(strs[nameOff]!)) continue;
        const name = cstring(strs, nameOff);
        if (wanted && !wanted.has(name)) continue;
        const info = syms[o + 4]!;
        out.push({
          name,
          type: info & 0xf,
          bind: info >> 4,
          shndx: syms.readUInt16LE(o + 6),
          value: u64(syms, o + 8),
          size: u64(syms, o + 16),
        });
      }
    }
    return out;
  }

  /** The PT_LOAD segment containing a virtual address (file-backed part only). */
  private loadFor(vaddr: number): ElfProgramHeader | undefined {
    return this.programHeaders.find((p) => p.type === PT_LOAD && vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz);
  }

  /**
   * Virtual address -> file offset through the PT_LOAD headers. Uprobes attach by file
   * offset; on a non-PIE executable a virtual address is accepted but never fires.
   */
  vaddrToOffset(vaddr: number): number | null {
    const p = this.loadFor(vaddr);
    return p ? vaddr - p.vaddr + p.offset : null;
  }

  offsetToVaddr(offset: number): number | null {
    const p = this.programHeaders.find((q) => q.type === PT_LOAD && offset >= q.offset && offset < q.offset + q.filesz);
    return p ? offset - p.offset + p.vaddr : null;
  }

  /** True when the address lies in an executable PT_LOAD segment. */
  isExecutable(vaddr: number): boolean {
    const p = this.loadFor(vaddr);
    return !!p && (p.flags & PF_X) !== 0;
  }

  /** The GNU build ID as hex, when the binary carries one. */
  buildId(): string | undefined {
    for (const s of this.sections) {
      if (s.type !== SHT_NOTE || s.size > 4096) continue;
      const d = this.sectionData(s);
      let o = 0;
      while (o + 12 <= d.length) {
        const namesz = d.readUInt32LE(o),
          descsz = d.readUInt32LE(o + 4),
          type = d.readUInt32LE(o + 8);
        const nameStart = o + 12,
          descStart = nameStart + align4(namesz);
        if (descStart + descsz > d.length) break;
        if (type === 3 && d.toString('latin1', nameStart, nameStart + namesz) === 'GNU\0') {
          return d.toString('hex', descStart, descStart + descsz);
        }
        o = descStart + align4(descsz);
      }
    }
    return undefined;
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

export function cstring(buf: Buffer, off: number): string {
  if (off >= buf.length) return '';
  let end = buf.indexOf(0, off);
  if (end < 0) end = buf.length;
  return buf.toString('latin1', off, end);
}

/** .eh_frame_hdr's binary-search table: pairs of (function start, FDE address), sorted. */
interface EhFrameTable {
  hdrAddr: number;
  d: Buffer;
  count: number;
  table: number;
}

function ehFrameTable(elf: ElfFile): EhFrameTable | null {
  const hdr = elf.section('.eh_frame_hdr');
  if (!hdr || hdr.size < 12) return null;
  const d = elf.sectionData(hdr);
  const version = d[0],
    ptrEnc = d[1]!,
    countEnc = d[2],
    tableEnc = d[3];
  // DW_EH_PE_udata4 = 0x03 for the count; table DW_EH_PE_datarel|sdata4 = 0x3b.
  if (version !== 1 || countEnc !== 0x03 || tableEnc !== 0x3b) return null;
  const ptrSize =
    (ptrEnc & 0x0f) === 0x0b || (ptrEnc & 0x0f) === 0x03
      ? 4
      : (ptrEnc & 0x0f) === 0x0c || (ptrEnc & 0x0f) === 0x04
        ? 8
        : 0;
  if (!ptrSize) return null;
  const count = d.readUInt32LE(4 + ptrSize);
  const table = 8 + ptrSize;
  if (table + count * 8 > d.length) return null;
  return { hdrAddr: hdr.addr, d, count, table };
}

/**
 * Function start addresses from .eh_frame_hdr's binary-search table, when the binary keeps
 * unwind tables (Claude Code does, Bun does not). Only the common encoding is read
 * (table of datarel sdata4 pairs); anything else yields null.
 */
export function ehFrameFunctionStarts(elf: ElfFile): number[] | null {
  const t = ehFrameTable(elf);
  if (!t) return null;
  const out: number[] = new Array(t.count);
  for (let i = 0; i < t.count; i++) out[i] = t.hdrAddr + t.d.readInt32LE(t.table + i * 8);
  return out;
}

export interface FunctionRange {
  start: number;
  end: number;
}

function uleb(b: Buffer, o: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    const x = b[o++];
    if (x === undefined) return [v, o];
    v += (x & 0x7f) * mul;
    mul *= 128;
    if (!(x & 0x80)) return [v, o];
  }
}

/** Bytes of a DW_EH_PE-encoded value (its low nibble), or 0 for one we do not read. */
function encSize(enc: number): number {
  switch (enc & 0x0f) {
    case 0x00:
    case 0x04:
    case 0x0c:
      return 8;
    case 0x03:
    case 0x0b:
      return 4;
    case 0x02:
    case 0x0a:
      return 2;
    default:
      return 0;
  }
}

/**
 * The function containing an address, with its exact extent, from the unwind tables: the
 * .eh_frame_hdr table gives the nearest FDE at or below it, the FDE its length (pc_range,
 * in the pointer encoding its CIE's augmentation names). Rust binaries keep these tables
 * even stripped (panics unwind through them). Null when the binary has none, or the address
 * is in no function they describe.
 */
export function ehFrameFunctionLookup(elf: ElfFile): ((vaddr: number) => FunctionRange | null) | null {
  const t = ehFrameTable(elf);
  if (!t) return null;
  const startAt = (i: number) => t.hdrAddr + t.d.readInt32LE(t.table + i * 8);
  const cieEnc = new Map<number, number>();
  /** The FDE pointer encoding ('R' augmentation) of the CIE at a virtual address. */
  const fdeEncoding = (cie: number): number => {
    const known = cieEnc.get(cie);
    if (known !== undefined) return known;
    let enc = 0; // absptr when the CIE says nothing
    const off = elf.vaddrToOffset(cie);
    const b = off === null ? Buffer.alloc(0) : elf.read(off, 256);
    if (b.length >= 12 && b.readUInt32LE(0) !== 0xffffffff) {
      const version = b[8]!;
      let o = 9;
      const augEnd = b.indexOf(0, o);
      const aug = b.toString('latin1', o, augEnd);
      o = augEnd + 1;
      if (version >= 4) o += 2; // address_size, segment_size
      o = uleb(b, o)[1]; // code alignment
      o = uleb(b, o)[1]; // data alignment (sleb: same length)
      o = version === 1 ? o + 1 : uleb(b, o)[1]; // return address register
      if (aug.startsWith('z')) {
        o = uleb(b, o)[1]; // augmentation data length
        for (const c of aug.slice(1)) {
          if (c === 'R') {
            enc = b[o]!;
            break;
          }
          if (c === 'L') o += 1;
          else if (c === 'P') {
            const pe = b[o]!;
            o += 1 + encSize(pe);
          } else if (c !== 'S' && c !== 'B') break;
        }
      }
    }
    cieEnc.set(cie, enc);
    return enc;
  };
  return (vaddr) => {
    let lo = 0;
    let hi = t.count - 1;
    if (hi < 0 || startAt(0) > vaddr) return null;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (startAt(mid) <= vaddr) lo = mid;
      else hi = mid - 1;
    }
    const start = startAt(lo);
    const fde = t.hdrAddr + t.d.readInt32LE(t.table + lo * 8 + 4);
    const off = elf.vaddrToOffset(fde);
    if (off === null) return null;
    const b = elf.read(off, 32);
    if (b.length < 24 || b.readUInt32LE(0) === 0xffffffff) return null;
    const ciePtr = b.readUInt32LE(4);
    if (ciePtr === 0) return null; // a CIE, not an FDE
    const size = encSize(fdeEncoding(fde + 4 - ciePtr));
    if (!size || 8 + 2 * size > b.length) return null;
    const o = 8 + size;
    const range = size === 8 ? Number(b.readBigUInt64LE(o)) : size === 4 ? b.readUInt32LE(o) : b.readUInt16LE(o);
    const end = start + range;
    return vaddr < end ? { start, end } : null;
  };
}
