import t from 'tap';
import { escapeJsonBytes, escapeJsonInto, fastJsonBytes, lastEscapedAscii } from './jsonbytes.js';

function esc(b: Buffer): string {
  const parts: Buffer[] = [];
  escapeJsonBytes(b, (e) => parts.push(Buffer.from(e)));
  const s = Buffer.concat(parts).toString('utf8');
  // The other entry point, into a buffer at an offset, writes the same and nothing else.
  const out = Buffer.alloc(5 + 6 * b.length + 1, 0xee);
  const end = escapeJsonInto(b, out, 5);
  if (out.subarray(5, end).toString('utf8') !== s || out[4] !== 0xee || out[end] !== 0xee)
    throw new Error(`escapeJsonInto differs for ${JSON.stringify(b.toString())}`);
  return s;
}
const stringify = (b: Buffer) => JSON.stringify(b.toString('utf8')).slice(1, -1);

t.test('the WebAssembly escaper is built and in use', async (t) => {
  t.ok(fastJsonBytes(), 'jsonbytes.wasm loaded (make builds it with wat2wasm)');
});

t.test('every byte below 0x80, alone and inside runs, as JSON.stringify writes it', async (t) => {
  for (let c = 0; c < 0x80; c++) {
    const one = Buffer.from([c]);
    if (esc(one) !== stringify(one)) t.fail(`byte ${c}: ${esc(one)} != ${stringify(one)}`);
    // At every position of a 16-byte block and across block edges.
    for (const at of [0, 7, 15, 16, 17, 31, 32, 40]) {
      const b = Buffer.alloc(48, 'a');
      b[at] = c;
      if (esc(b) !== stringify(b)) t.fail(`byte ${c} at ${at}`);
    }
  }
  t.equal(esc(Buffer.alloc(0)), '', 'empty');
  t.equal(
    esc(Buffer.from('say "hi"\\\n\r\t\b\f\u0001\u001f\u007f')),
    'say \\"hi\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u007f',
  );
});

t.test('random UTF-8 text of many lengths, dense and sparse in escapes, as JSON.stringify', async (t) => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const alphabet = [
    'a',
    'b',
    ' ',
    '"',
    '\\',
    '\n',
    '\r',
    '\t',
    '\u0000',
    '\u0007',
    '\u001b',
    'é',
    '€',
    '😀',
    '\u2028',
    '{',
    '}',
    ':',
  ];
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    const len = i < 100 ? i : rnd(i % 7 === 0 ? 5000 : 200);
    const dense = rnd(2) === 0;
    let s = '';
    for (let k = 0; k < len; k++)
      s += dense ? alphabet[rnd(alphabet.length)] : rnd(20) ? 'x' : alphabet[rnd(alphabet.length)];
    const b = Buffer.from(s, 'utf8');
    if (esc(b) !== stringify(b)) bad++;
  }
  t.equal(bad, 0, '3000 strings');
});

t.test('payloads larger than one piece: split inside UTF-8 sequences, joined exactly', async (t) => {
  const s = ('€"\n😀' + 'x'.repeat(1000)).repeat(700); // ~700 KiB: several pieces of 256 KiB
  const b = Buffer.from(s, 'utf8');
  let pieces = 0;
  escapeJsonBytes(b, () => {
    pieces++;
  });
  t.ok(pieces >= 3, `${pieces} pieces`);
  t.equal(esc(b), stringify(b));
  t.same(JSON.parse(`"${esc(b)}"`), s, 'parses back to the text');
});

t.test('escapeJsonInto says when the bytes were all ASCII, wherever the first other byte is', async (t) => {
  const out = Buffer.alloc(6 * 300);
  for (const len of [0, 1, 15, 16, 17, 40, 200]) {
    const ascii = Buffer.alloc(len, 'a');
    escapeJsonInto(ascii, out, 0);
    t.equal(lastEscapedAscii(), true, `${len} ASCII bytes`);
    for (let at = 0; at < len; at += Math.max(1, len >> 3)) {
      const b = Buffer.from(ascii);
      b[at] = 0xc3; // a byte of 0x80 and up, in a block or in the tail
      escapeJsonInto(b, out, 0);
      if (lastEscapedAscii()) t.fail(`${len} bytes, 0xc3 at ${at}: said ASCII`);
    }
  }
  escapeJsonInto(Buffer.alloc(300 << 10, 'a'), Buffer.alloc(6 * (300 << 10)), 0);
  t.equal(lastEscapedAscii(), false, 'over one piece: not known, so not claimed');
});
