import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  analyseBoringSsl,
  callTargets,
  findAddressLoads,
  findStrings,
  locateBoringSsl,
  setScanChunk,
} from './boringssl.js';
import { ElfFile } from './elf.js';
import { findTlsTarget } from './targets.js';
import { clang, FIXTURES, haveTool, tempDir } from './testutil.js';
import { binaryKey, cachePut } from './tlscache.js';

const tools = haveTool('clang') && haveTool('llvm-strip');

t.test(
  'stripped miniature of ssl_lib.cc: functions found at their true addresses',
  { skip: tools ? false : 'clang/llvm-strip not installed: cannot build the fixture' },
  async (t) => {
    const { dir, cleanup } = tempDir('as-boring-');
    t.teardown(cleanup);
    const full = join(dir, 'full');
    const stripped = join(dir, 'stripped');
    // Non-PIE code loads the file string with `mov r32, imm32`; PIE and shared objects with a
    // RIP-relative `lea`.
    const variants = [
      ['-O2', '-no-pie'],
      ['-O1', '-no-pie'],
      ['-O3', '-no-pie'],
      ['-O2', '-fPIE', '-pie'],
      ['-O2', '-shared', '-fPIC', '-fvisibility=hidden'],
    ];
    for (const opts of variants) {
      t.test(`clang ${opts.join(' ')}`, async (t) => {
        clang([...opts, '-fno-asynchronous-unwind-tables', '-o', full, join(FIXTURES, 'fake_boringssl.c')]);
        execFileSync('llvm-strip', ['-o', stripped, full]);
        const truth = new Map<string, number>();
        const ef = ElfFile.open(full);
        for (const s of ef.symbols('symtab', new Set(['SSL_write', 'SSL_read', 'SSL_do_handshake', 'ssl_read_impl'])))
          truth.set(s.name, s.value);
        ef.close();
        t.equal(truth.size, 4, 'fixture symbols present before stripping');

        const elf = ElfFile.open(stripped);
        t.teardown(() => elf.close());
        t.same(elf.symbols('symtab'), [], 'no symbol table left');
        t.same(elf.symbols('dynsym', new Set(['SSL_write'])), [], 'and no exported SSL_write');
        const files = findStrings(elf, 'ssl_lib.cc');
        t.equal(files.length, 1, 'one ssl_lib.cc file string');
        t.ok(findAddressLoads(elf, files).length >= 7, 'each OPENSSL_PUT_ERROR loads it');
        const a = analyseBoringSsl(elf, { useUnwind: false })!;
        t.equal(a.ssl_write, truth.get('SSL_write'), 'SSL_write');
        t.equal(a.ssl_read, truth.get('SSL_read'), 'SSL_read');
        t.equal(a.ssl_read_impl, truth.get('ssl_read_impl'), 'ssl_read_impl');
        t.equal(a.ssl_do_handshake, truth.get('SSL_do_handshake'), 'SSL_do_handshake');
        const w = a.functions.find((f) => f.start === a.ssl_write)!;
        t.same(
          [...w.reasons].sort((x, y) => x - y),
          [66, 111, 215, 226],
          'SSL_write error reasons',
        );

        // Tiny odd-sized scan chunks put strings, immediates and call sites across chunk edges.
        const sites = findAddressLoads(elf, files);
        const calls = callTargets(elf);
        const saved = setScanChunk(37);
        try {
          t.same(findStrings(elf, 'ssl_lib.cc'), files, 'same strings with 37-byte chunks');
          t.same(findAddressLoads(elf, files), sites, 'same reference sites with 37-byte chunks');
          t.same([...callTargets(elf)].sort(), [...calls].sort(), 'same call targets with 37-byte chunks');
        } finally {
          setScanChunk(saved);
        }

        const r = locateBoringSsl(elf, undefined, { cache: false })!;
        const off = (v: number) => elf.vaddrToOffset(v);
        t.same(r.symbols, [
          { name: 'SSL_write', offset: off(truth.get('SSL_write')!), method: 'heuristic' },
          { name: 'SSL_read', offset: off(truth.get('SSL_read')!), method: 'heuristic' },
          { name: 'SSL_do_handshake', offset: off(truth.get('SSL_do_handshake')!), method: 'heuristic' },
        ]);
        t.same(
          findTlsTarget(stripped, { cache: false })?.lib,
          'boringssl',
          'findTlsTarget falls back to the heuristic',
        );
      });
    }
  },
);

t.test(
  'unaligned functions (clang -Os): no answer rather than a wrong one',
  { skip: tools ? false : 'clang/llvm-strip not installed' },
  async (t) => {
    const { dir, cleanup } = tempDir('as-boring-');
    t.teardown(cleanup);
    const full = join(dir, 'full');
    clang(['-Os', '-no-pie', '-fno-asynchronous-unwind-tables', '-o', full, join(FIXTURES, 'fake_boringssl.c')]);
    const ef = ElfFile.open(full);
    const truth = new Map(
      ef.symbols('symtab', new Set(['SSL_write', 'SSL_read'])).map((s) => [s.name, ef.vaddrToOffset(s.value)]),
    );
    ef.close();
    execFileSync('llvm-strip', [full]);
    const elf = ElfFile.open(full);
    t.teardown(() => elf.close());
    const r = locateBoringSsl(elf, undefined, { cache: false });
    if (r) {
      for (const s of r.symbols)
        if (truth.has(s.name)) t.equal(s.offset, truth.get(s.name), `${s.name} right if given`);
    } else {
      t.pass('nothing claimed');
    }
  },
);

t.test('no ssl_lib.cc: nothing found, quickly', async (t) => {
  const elf = ElfFile.open('/proc/self/exe');
  t.teardown(() => elf.close());
  const t0 = Date.now();
  t.equal(locateBoringSsl(elf, undefined, { cache: false }), null);
  t.ok(Date.now() - t0 < 10000, 'bounded');
});

t.test(
  'cache: reused while the binary is unchanged, invalidated when it changes',
  { skip: tools ? false : 'clang not installed' },
  async (t) => {
    const { dir, cleanup } = tempDir('as-cache-');
    t.teardown(cleanup);
    const saved = process.env.AGENTSIGHT_CACHE_DIR;
    process.env.AGENTSIGHT_CACHE_DIR = join(dir, 'cache');
    t.teardown(() => {
      if (saved === undefined) delete process.env.AGENTSIGHT_CACHE_DIR;
      else process.env.AGENTSIGHT_CACHE_DIR = saved;
    });
    const bin = join(dir, 'b');
    clang(['-O2', '-no-pie', '-s', '-o', bin, join(FIXTURES, 'fake_boringssl.c')]);
    const k1 = binaryKey(bin);
    const first = findTlsTarget(bin)!;
    t.equal(first.lib, 'boringssl');
    const cached = readdirSync(join(dir, 'cache')).filter((f) => f.endsWith('.json'));
    t.same(cached, [`tls-${k1}.json`], 'one entry keyed by the binary');
    const entry = JSON.parse(readFileSync(join(dir, 'cache', cached[0]!), 'utf8'));
    t.same(entry.result.symbols, first.symbols, 'entry holds the result');
    t.same(findTlsTarget(bin)!.symbols, first.symbols, 'second lookup agrees');
    // A damaged entry is a miss, and is replaced.
    writeFileSync(join(dir, 'cache', cached[0]!), '{"result": [tru');
    t.same(findTlsTarget(bin)!.symbols, first.symbols, 'damaged entry: rescanned');
    t.same(
      JSON.parse(readFileSync(join(dir, 'cache', cached[0]!), 'utf8')).result.symbols,
      first.symbols,
      'and rewritten',
    );
    // An unwritable cache costs a rescan, nothing else.
    writeFileSync(join(dir, 'notadir'), '');
    t.equal(cachePut('k', { x: 1 }, join(dir, 'notadir', 'sub')), false, 'cachePut reports failure');
    process.env.AGENTSIGHT_CACHE_DIR = join(dir, 'notadir', 'sub');
    t.same(findTlsTarget(bin)!.symbols, first.symbols, 'works without a cache');
    process.env.AGENTSIGHT_CACHE_DIR = join(dir, 'cache');
    utimesSync(bin, new Date(), new Date(Date.now() + 5000));
    t.not(binaryKey(bin), k1, 'new mtime, new key');
    t.ok(callTargets(ElfFile.open(bin)).size > 0);
  },
);
