// JSON string escaping straight from bytes, so a captured payload becomes part of an NDJSON
// line without first becoming a JavaScript string and then being escaped by JSON.stringify
// (about 1 GB/s in V8, the largest cost per byte of a capture). The work is done by a small
// WebAssembly SIMD module (jsonbytes.wat, built next to this file by `make`); where it is
// missing the same output comes from JSON.stringify, only slower.
import fs from 'node:fs';

// Node has WebAssembly; TypeScript declares it only with the DOM library, so the little
// used here is declared here.
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
};

interface Escaper {
  memory: WasmMemory;
  escape: (src: number, n: number, dst: number) => number;
}

/** Start of the scratch area in the module's memory (below: its tables). */
const BASE = 64;
/** Bytes escaped per call into the module: bounds its memory to about 7 times this. */
const PIECE = 256 << 10;
/** Where the module writes the escaped piece (after the input and 16 bytes it may read past). */
const DST = BASE + PIECE + 16;

let escaper: Escaper | null | undefined;
let mem: Buffer;

function load(): Escaper | null {
  if (escaper !== undefined) return escaper;
  try {
    const bytes = fs.readFileSync(new URL('./jsonbytes.wasm', import.meta.url));
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
    const e = inst.exports as unknown as Escaper;
    const need = DST + 6 * PIECE + 32;
    const have = e.memory.buffer.byteLength;
    if (have < need) e.memory.grow(Math.ceil((need - have) / 65536));
    mem = Buffer.from(e.memory.buffer);
    escaper = e;
  } catch {
    escaper = null;
  }
  return escaper;
}

/** True when the WebAssembly escaper is in use (false: the JSON.stringify fallback). */
export function fastJsonBytes(): boolean {
  return load() !== null;
}

/** Escape one piece of at most PIECE bytes; returns the end of the output at DST in `mem`. */
function escapePiece(e: Escaper, piece: Uint8Array): number {
  mem.set(piece, BASE);
  return e.escape(BASE, piece.length, DST);
}

/** True when the bytes last given to escapeJsonInto were all ASCII (so valid UTF-8). */
export function lastEscapedAscii(): boolean {
  return escaper ? mem[48] === 1 : false;
}

/**
 * escapeJsonBytes into `out` at `at`, which must have room for 6 bytes per byte of `src`;
 * returns the end. For small payloads, the common case: nothing is allocated.
 */
export function escapeJsonInto(src: Uint8Array, out: Buffer, at: number): number {
  const e = load();
  if (!e || src.length > PIECE) {
    let o = at;
    escapeJsonBytes(src, (piece) => {
      out.set(piece, o);
      o += piece.length;
    });
    if (e) mem[48] = 0; // only the last piece was seen whole: unknown
    return o;
  }
  return at + mem.copy(out, at, DST, escapePiece(e, src));
}

/**
 * The inside of a JSON string (no quotes) holding `src`, which must be valid UTF-8:
 * exactly what JSON.stringify writes for the same text. Handed to `each` in pieces, each a
 * view that is valid only during the call.
 */
export function escapeJsonBytes(src: Uint8Array, each: (escaped: Uint8Array) => void): void {
  const e = load();
  if (!e) {
    const s = JSON.stringify(Buffer.from(src.buffer, src.byteOffset, src.byteLength).toString('utf8'));
    each(Buffer.from(s.slice(1, -1), 'utf8'));
    return;
  }
  // Pieces may end inside a UTF-8 sequence: harmless, bytes of 0x80 and up pass through.
  let at = 0;
  do {
    each(mem.subarray(DST, escapePiece(e, src.subarray(at, at + PIECE))));
    at += PIECE;
  } while (at < src.length);
}
