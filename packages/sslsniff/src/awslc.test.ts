import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { AEAD_ROLES, aeadRole, analyseAwsLcAead, locateAwsLcAead, CIPHER_REASON as R } from './awslc.js';
import { ElfFile, ehFrameFunctionLookup } from './elf.js';
import { findTlsTarget } from './targets.js';
import { clang, FIXTURES, haveTool, tempDir } from './testutil.js';

const tools = haveTool('clang') && haveTool('llvm-strip');
const skip = tools ? false : 'clang/llvm-strip not installed: cannot build the fixture';
const SRC = join(FIXTURES, 'fake_awslc_aead.c');

/** Build the fixture, keep the true addresses and sizes, and strip it. */
function build(dir: string, name: string, opts: string[]): { path: string; truth: Map<string, [number, number]> } {
  const full = join(dir, `${name}.full`);
  const path = join(dir, name);
  clang([...opts, '-o', full, SRC]);
  execFileSync('llvm-strip', ['-o', path, full]);
  const truth = new Map<string, [number, number]>();
  const elf = ElfFile.open(full);
  for (const s of elf.symbols('symtab', new Set(AEAD_ROLES))) truth.set(s.name, [s.value, s.size]);
  elf.close();
  return { path, truth };
}

t.test('aeadRole: each entry point by the reasons it raises', async (t) => {
  const role = (...reasons: number[]) => aeadRole({ reasons });
  t.equal(role(R.TOO_LARGE, R.BUFFER_TOO_SMALL, R.OUTPUT_ALIASES_INPUT), 'EVP_AEAD_CTX_seal');
  t.equal(role(R.OUTPUT_ALIASES_INPUT, R.INVALID_OPERATION), 'EVP_AEAD_CTX_seal_scatter');
  t.equal(role(R.OUTPUT_ALIASES_INPUT, R.BAD_DECRYPT, R.BUFFER_TOO_SMALL), 'EVP_AEAD_CTX_open');
  t.equal(
    role(R.OUTPUT_ALIASES_INPUT, R.BAD_DECRYPT, R.BUFFER_TOO_SMALL, R.OUTPUT_ALIASES_INPUT, R.CTRL_NOT_IMPLEMENTED),
    'EVP_AEAD_CTX_open',
    'open with open_gather inlined (Codex 0.169.0) is still open',
  );
  t.equal(role(R.OUTPUT_ALIASES_INPUT, R.CTRL_NOT_IMPLEMENTED), 'EVP_AEAD_CTX_open_gather');
  t.equal(role(124, 120), null, 'EVP_AEAD_CTX_init');
  t.equal(role(R.TOO_LARGE, R.BUFFER_TOO_SMALL), null, 'no aliasing check: not an AEAD entry point');
});

t.test('stripped miniature of aead.c: the four entry points at their true addresses', { skip }, async (t) => {
  const { dir, cleanup } = tempDir('as-awslc-');
  t.teardown(cleanup);
  const variants: Array<[string, string[], 'eh_frame' | 'heuristic']> = [
    ['pie', ['-O2', '-fPIE', '-pie'], 'eh_frame'],
    ['pie-O3', ['-O3', '-fPIE', '-pie'], 'eh_frame'],
    ['nopie', ['-O2', '-no-pie'], 'eh_frame'],
    ['no-unwind', ['-O2', '-fPIE', '-pie', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables'], 'heuristic'],
  ];
  for (const [name, opts, bounds] of variants) {
    t.test(name, async (t) => {
      const { path, truth } = build(dir, name, opts);
      t.equal(truth.size, 4, 'fixture symbols present before stripping');
      const elf = ElfFile.open(path);
      t.teardown(() => elf.close());
      t.same(elf.symbols('symtab'), [], 'no symbol table left');
      const a = analyseAwsLcAead(elf)!;
      t.ok(a, 'aead.c found');
      for (const role of AEAD_ROLES) t.equal(a.found[role], truth.get(role)![0], role);
      const used = a.functions.filter((f) => Object.values(a.found).includes(f.start));
      t.same([...new Set(used.map((f) => f.bounds))], [bounds], `extents from ${bounds}`);
      if (bounds === 'eh_frame')
        for (const f of used) {
          const [start, size] = [...truth.values()].find(([s]) => s === f.start)!;
          t.same([f.start, f.end], [start, start + size], `exact extent of the function at 0x${start.toString(16)}`);
        }
      t.same(a.versions, ['rustls-0.23.46', 'aws-lc-rs-1.18.1'], 'the crate versions from their paths');

      const r = locateAwsLcAead(elf, undefined, { cache: false })!;
      t.same(
        r.symbols.map((s) => [s.name, s.offset, s.method]),
        AEAD_ROLES.map((n) => [n, elf.vaddrToOffset(truth.get(n)![0]), 'heuristic']),
        'file offsets to attach by',
      );
      t.match(r.note, /^rustls-0\.23\.46, aws-lc-rs-1\.18\.1: aws-lc AEAD functions located/);
      const target = findTlsTarget(path, { cache: false })!;
      t.equal(target?.lib, 'rustls', 'findTlsTarget: a rustls target');
      t.equal(target?.symbols.length, 4);
    });
  }
});

t.test('ehFrameFunctionLookup: the FDE around an address, exactly', { skip }, async (t) => {
  const { dir, cleanup } = tempDir('as-awslc-fde-');
  t.teardown(cleanup);
  const full = join(dir, 'full');
  clang(['-O2', '-fPIE', '-pie', '-o', full, SRC]);
  const elf = ElfFile.open(full);
  t.teardown(() => elf.close());
  const lookup = ehFrameFunctionLookup(elf)!;
  t.ok(lookup, 'unwind tables read');
  const funcs = elf.symbols('symtab').filter((s) => s.type === 2 && s.size > 0 && s.value > 0);
  t.ok(funcs.length >= 6);
  for (const f of funcs) {
    const r = lookup(f.value + Math.floor(f.size / 2));
    if (!r) continue; // crt code without an FDE
    t.same(r, { start: f.value, end: f.value + f.size }, f.name);
  }
  t.equal(lookup(1), null, 'below every function: none');
});

t.test('rustls whose seal or open is not identified: nothing, and why', { skip }, async (t) => {
  const { dir, cleanup } = tempDir('as-awslc-neg-');
  t.teardown(cleanup);
  const { path } = build(dir, 'no-open', ['-O2', '-fPIE', '-pie', '-DNO_OPEN']);
  const elf = ElfFile.open(path);
  t.teardown(() => elf.close());
  const logs: string[] = [];
  t.equal(
    locateAwsLcAead(elf, (m) => logs.push(m), { cache: false }),
    null,
  );
  t.match(logs.join('\n'), /rustls over aws-lc, but EVP_AEAD_CTX_seal and EVP_AEAD_CTX_open were not both identified/);
  t.match(logs.join('\n'), /its TLS is not hooked/);
  t.equal(findTlsTarget(path, { cache: false }), null, 'findTlsTarget: no target');

  // The reasons alone would do here; the source lines must agree all the same.
  const moved = build(dir, 'gather-first', ['-O2', '-fPIE', '-pie', '-DGATHER_FIRST']);
  const e1 = ElfFile.open(moved.path);
  t.teardown(() => e1.close());
  const a = analyseAwsLcAead(e1)!;
  t.same(a.found, {}, 'roles whose lines contradict aead.c order: none trusted');
  t.match(a.note, /out of aead\.c order/);

  const other = build(dir, 'no-rustls', ['-O2', '-fPIE', '-pie', '-DNO_RUSTLS']);
  const e2 = ElfFile.open(other.path);
  t.teardown(() => e2.close());
  const l2: string[] = [];
  t.equal(
    locateAwsLcAead(e2, (m) => l2.push(m), { cache: false }),
    null,
    'aws-lc without rustls: not ours',
  );
  t.same(l2, [], 'and nothing to say about it');
});
