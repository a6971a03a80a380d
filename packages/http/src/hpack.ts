import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';

// HPACK (RFC 7541) decoding, for one direction of one HTTP/2 connection: the dynamic
// table is state shared by every header block that direction carries, so each direction
// of each connection has its own decoder, in order, and a lost block makes it unusable.

export class HpackError extends Error {}

// RFC 7541 Appendix A.
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
export const STATIC_TABLE = STATIC;

/** name, value, size in octets (RFC 7541 4.1), name length in octets. */
type Entry = readonly [string, string, number, number];
const STATIC_ENTRIES: Entry[] = STATIC.map(([n, v]) => [n, v, n.length + v.length + 32, n.length] as const);

// The Huffman code of Appendix B, as [bit length, code] per symbol (256 = EOS), from the
// hpack.js package rather than retyped. Decoding walks a binary tree built from it once.
const require = createRequire(import.meta.url);
const CODES = (require('hpack.js/lib/hpack/huffman.js') as { encode: Array<[number, number]> }).encode;

/** Tree nodes as a flat array: node i has children at [2i] and [2i+1]; leaves hold -(sym+1). */
const TREE: Int32Array = (() => {
  const t = new Int32Array(2 * 600).fill(0);
  let next = 1;
  for (let sym = 0; sym < CODES.length; sym++) {
    const [len, code] = CODES[sym]!;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = (code >>> b) & 1;
      const slot = 2 * node + bit;
      if (b === 0) {
        t[slot] = -(sym + 1);
        break;
      }
      if (t[slot] === 0) t[slot] = next++;
      node = t[slot]!;
    }
  }
  return t;
})();

export function huffmanDecode(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil((b.length * 8) / 5));
  let n = 0;
  let node = 0;
  let depth = 0;
  let ones = true;
  for (let i = 0; i < b.length; i++) {
    const byte = b[i]!;
    for (let k = 7; k >= 0; k--) {
      const bit = (byte >> k) & 1;
      const v = TREE[2 * node + bit]!;
      depth++;
      if (!bit) ones = false;
      if (v < 0) {
        const sym = -v - 1;
        if (sym === 256) throw new HpackError('huffman: EOS in string');
        out[n++] = sym;
        node = 0;
        depth = 0;
        ones = true;
      } else if (v === 0) {
        throw new HpackError('huffman: invalid code');
      } else node = v;
    }
  }
  // Padding: the most significant bits of EOS (all ones), fewer than 8 (5.2).
  if (depth > 7 || !ones) throw new HpackError('huffman: bad padding');
  return out.subarray(0, n);
}

export interface HpackOptions {
  /** Upper bound on the dynamic table size a peer may ask for (memory bound). */
  maxTableSize?: number;
  /** Largest decoded header list (sum of name + value + 32 per field). */
  maxHeaderListSize?: number;
}

export class HpackDecoder {
  /** Newest first: name, value, and its size in octets (4.1) as the encoder counts it. */
  #dyn: Array<Entry> = [];
  #size = 0;
  #max = 4096;
  #limit: number;
  #maxList: number;

  constructor(opts: HpackOptions = {}) {
    this.#limit = opts.maxTableSize ?? 64 * 1024;
    this.#maxList = opts.maxHeaderListSize ?? 256 * 1024;
  }

  get tableSize(): number {
    return this.#size;
  }
  get tableEntries(): number {
    return this.#dyn.length;
  }

  /** Decode one complete header block. Throws HpackError on malformed input. */
  decode(block: Buffer): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    let listSize = 0;
    const p = { pos: 0 };
    while (p.pos < block.length) {
      const b = block[p.pos]!;
      let name: string;
      let value: string;
      if (b & 0x80) {
        [name, value] = this.#get(this.#int(block, p, 7));
      } else if ((b & 0xe0) === 0x20) {
        const size = this.#int(block, p, 5);
        if (size > this.#limit) throw new HpackError(`table size update ${size} over the limit`);
        this.#max = size;
        this.#evict(0);
        continue;
      } else {
        const indexing = (b & 0xc0) === 0x40;
        const idx = this.#int(block, p, indexing ? 6 : 4);
        let nameOctets: number;
        if (idx) {
          const e = this.#get(idx);
          name = e[0];
          nameOctets = e[3];
        } else {
          const s = this.#str(block, p);
          name = s.text;
          nameOctets = s.octets;
        }
        const v = this.#str(block, p);
        value = v.text;
        if (indexing) this.#add([name, value, nameOctets + v.octets + 32, nameOctets]);
      }
      listSize += name.length + value.length + 32;
      if (listSize > this.#maxList) throw new HpackError(`header list larger than ${this.#maxList}`);
      out.push([name, value]);
    }
    return out;
  }

  #int(b: Buffer, p: { pos: number }, prefix: number): number {
    const mask = (1 << prefix) - 1;
    let v = b[p.pos++]! & mask;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      if (p.pos >= b.length) throw new HpackError('integer truncated');
      const c = b[p.pos++]!;
      v += (c & 0x7f) * 2 ** m;
      m += 7;
      if (m > 28) throw new HpackError('integer too large');
      if (!(c & 0x80)) return v;
    }
  }

  #str(b: Buffer, p: { pos: number }): { text: string; octets: number } {
    if (p.pos >= b.length) throw new HpackError('string truncated');
    const huff = (b[p.pos]! & 0x80) !== 0;
    const len = this.#int(b, p, 7);
    if (p.pos + len > b.length) throw new HpackError('string truncated');
    const raw = b.subarray(p.pos, p.pos + len);
    p.pos += len;
    const bytes = huff ? huffmanDecode(raw) : raw;
    // Octets on the wire; shown as UTF-8 when they are valid UTF-8 (as in HTTP/1 heads).
    return { text: bytes.toString(isUtf8(bytes) ? 'utf8' : 'latin1'), octets: bytes.length };
  }

  #get(idx: number): Entry {
    if (idx === 0) throw new HpackError('index 0');
    if (idx <= STATIC.length) return STATIC_ENTRIES[idx - 1]!;
    const e = this.#dyn[idx - STATIC.length - 1];
    if (!e) throw new HpackError(`index ${idx} not in the table`);
    return e;
  }

  #add(e: Entry): void {
    const size = e[2];
    this.#evict(size);
    // An entry larger than the table empties it and is not added (4.4).
    if (size > this.#max) return;
    this.#dyn.unshift(e);
    this.#size += size;
  }

  #evict(room: number): void {
    while (this.#dyn.length && this.#size + room > this.#max) {
      this.#size -= this.#dyn.pop()![2];
    }
  }
}
