import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ElfError, ElfFile, ET_DYN, ET_EXEC, ehFrameFunctionStarts } from './elf.js';
import { clang, haveTool, tempDir } from './testutil.js';

// Each function returns a distinctive constant: `mov eax, imm32` = B8 <imm32 LE>, so the bytes
// found at a computed file offset prove the offset without trusting our own ELF arithmetic.
const SRC = `
int SSL_write(void *s, const void *b, int n) { return 0x5eed0001; }
int SSL_read(void *s, void *b, int n) { return 0x5eed0002; }
int main(void) { return 0; }
`;
const movEax = (imm: number) => Buffer.from([0xb8, imm & 0xff, (imm >> 8) & 0xff, (imm >> 16) & 0xff, imm >>> 24]);

t.test(
  'ELF reader on clang-built executables and shared objects',
  { skip: haveTool('clang') ? false : 'clang not installed: cannot build ELF fixtures' },
  async (t) => {
    const { dir, cleanup } = tempDir('as-elf-');
    t.teardown(cleanup);
    writeFileSync(join(dir, 'f.c'), SRC);
    // A high text segment makes virtual addresses and file offsets differ by a lot.
    clang(['-O1', '-no-pie', '-Wl,-Ttext-segment=0x10000000', '-o', join(dir, 'exec'), join(dir, 'f.c')]);
    clang(['-O1', '-shared', '-fPIC', '-o', join(dir, 'lib.so'), join(dir, 'f.c')]);

    for (const [name, type, kind] of [
      ['exec', ET_EXEC, 'symtab'],
      ['lib.so', ET_DYN, 'dynsym'],
    ] as const) {
      const path = join(dir, name);
      const elf = ElfFile.open(path);
      t.teardown(() => elf.close());
      t.equal(elf.type, type, `${name}: e_type`);
      t.equal(elf.machine, 62, `${name}: x86-64`);
      t.ok(elf.section('.text'), `${name}: has .text`);
      t.match(elf.buildId() ?? '', /^[0-9a-f]{16,}$/, `${name}: GNU build ID`);
      const syms = elf.symbols(kind, new Set(['SSL_write', 'SSL_read', 'nonexistent']));
      t.same(syms.map((s) => s.name).sort(), ['SSL_read', 'SSL_write'], `${name}: wanted symbols from .${kind}`);
      const file = readFileSync(path);
      for (const s of syms) {
        const off = elf.vaddrToOffset(s.value);
        t.not(off, null, `${name}: ${s.name} maps to a file offset`);
        const imm = s.name === 'SSL_write' ? 0x5eed0001 : 0x5eed0002;
        t.same(
          file.subarray(off!, off! + 5),
          movEax(imm),
          `${name}: ${s.name} code found at file offset 0x${off!.toString(16)}`,
        );
        t.equal(elf.offsetToVaddr(off!), s.value, `${name}: offset maps back to the address`);
        t.ok(elf.isExecutable(s.value), `${name}: ${s.name} in an executable segment`);
      }
      if (type === ET_EXEC) {
        t.ok(
          syms[0]!.value >= 0x10000000 && elf.vaddrToOffset(syms[0]!.value)! < file.length,
          'non-PIE: address is not an offset',
        );
      }
      const starts = ehFrameFunctionStarts(elf);
      if (starts) for (const s of syms) t.ok(starts.includes(s.value), `${name}: .eh_frame_hdr lists ${s.name}`);
      t.equal(elf.vaddrToOffset(0x7fffffff0000), null, `${name}: unmapped address has no offset`);
    }
  },
);

t.test('rejects what is not a 64-bit little-endian ELF', async (t) => {
  const { dir, cleanup } = tempDir('as-elf-');
  t.teardown(cleanup);
  const p = join(dir, 'x');
  writeFileSync(p, 'not an elf at all, just text, long enough to have a header...................');
  t.throws(() => ElfFile.open(p), ElfError);
  const elf32 = Buffer.alloc(64);
  elf32.writeUInt32BE(0x7f454c46, 0);
  elf32[4] = 1;
  writeFileSync(p, elf32);
  t.throws(() => ElfFile.open(p), /64-bit/);
  // A truncated 64-bit header pointing at section headers past the end of the file.
  const trunc = Buffer.alloc(64);
  trunc.writeUInt32BE(0x7f454c46, 0);
  trunc[4] = 2;
  trunc[5] = 1;
  trunc.writeBigUInt64LE(4096n, 40);
  trunc.writeUInt16LE(64, 58);
  trunc.writeUInt16LE(10, 60);
  writeFileSync(p, trunc);
  t.throws(() => ElfFile.open(p), /beyond end of file/);
});

t.test('reads a large binary without loading it whole', { skip: false }, async (t) => {
  // /proc/self/exe is node (~100 MB): opening and reading .dynsym must stay cheap.
  const before = process.memoryUsage().rss;
  const elf = ElfFile.open('/proc/self/exe');
  t.teardown(() => elf.close());
  const syms = elf.symbols('dynsym', new Set(['SSL_write']));
  t.ok(elf.size > 20 << 20, 'node is big');
  t.ok(process.memoryUsage().rss - before < elf.size / 2, 'resident memory grew by less than half the file');
  t.ok(syms.length <= 1);
});
