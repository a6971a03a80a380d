import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ElfFile } from './elf.js';
import {
  findPclntab,
  GoSymtabError,
  goVersion,
  hasRegisterAbi,
  isGoBinary,
  locateGoTls,
  PCLNTAB_MAGIC,
  Pclntab,
  returnSites,
} from './go-symtab.js';
import { describeTargets, findTlsTarget } from './targets.js';
import { haveTool, tempDir } from './testutil.js';

const WRITE = 'crypto/tls.(*Conn).Write';
const READ = 'crypto/tls.(*Conn).Read';

// A program that uses a tls.Conn both ways, built plain and with -ldflags=-s -w.
const SRC = `package main

import (
	"crypto/tls"
	"os"
)

func main() {
	c, err := tls.Dial("tcp", os.Args[1], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		os.Exit(1)
	}
	c.Write([]byte("hello"))
	b := make([]byte, 16)
	c.Read(b)
}
`;

if (!haveTool('go')) {
  t.test('Go symbol table', { skip: 'NOT TESTED: no Go toolchain (apt-get install golang-go)' }, async () => {});
} else {
  const { dir, cleanup } = tempDir('go-symtab-');
  t.teardown(cleanup);
  const src = join(dir, 'main.go');
  writeFileSync(src, SRC);
  const build = (out: string, flags: string[]) => {
    execFileSync('go', ['build', '-o', join(dir, out), ...flags, src], {
      env: { ...process.env, CGO_ENABLED: '0', GO111MODULE: 'off' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 300_000,
    });
    return join(dir, out);
  };
  const plain = build('plain', []);
  const stripped = build('stripped', ['-ldflags=-s -w']);
  // Position-independent: the table is in .data.rel.ro.gopclntab, its textStart relocated.
  const pie = build('pie', ['-buildmode=pie']);
  const toolVersion = /go version (go\S+)/.exec(execFileSync('go', ['version'], { encoding: 'utf8' }))![1]!;

  // The Go toolchain's own view, independent of ours: each function's RET addresses.
  const objdumpRets = (bin: string, fn: string): number[] => {
    const re = `^${fn.replace(/[.*()]/g, (c) => `\\${c}`)}$`;
    const out = execFileSync('go', ['tool', 'objdump', '-s', re, bin], { encoding: 'utf8', maxBuffer: 64 << 20 });
    return out
      .split('\n')
      .filter((l) => /\tRET\b/.test(l))
      .map((l) => Number.parseInt(/0x([0-9a-f]+)/.exec(l)![1]!, 16));
  };

  t.test('a Go binary is recognised, its version read; other binaries are not Go', async (t) => {
    for (const bin of [plain, stripped]) {
      const elf = ElfFile.open(bin);
      t.ok(isGoBinary(elf), bin);
      t.equal(goVersion(elf), toolVersion, 'version from .go.buildinfo');
      elf.close();
    }
    const sh = ElfFile.open('/bin/sh');
    t.notOk(isGoBinary(sh), '/bin/sh is not Go');
    t.equal(findPclntab(sh), null, 'and has no pclntab');
    t.equal(locateGoTls(sh, [WRITE, READ]), null);
    sh.close();
  });

  t.test('pclntab: by section and by scanning, the same functions as the ELF symbol table', async (t) => {
    const elf = ElfFile.open(plain);
    const byElf = new Map(elf.symbols('symtab', new Set([WRITE, READ])).map((s) => [s.name, s.value]));
    t.equal(byElf.size, 2, 'the unstripped binary names both in .symtab');
    const sec = findPclntab(elf)!;
    t.equal(sec.where, '.gopclntab');
    const scanned = findPclntab(elf, { scan: true })!;
    t.match(scanned.where, /^scanned /, `found by scanning (${scanned.where})`);
    for (const f of [sec, scanned]) {
      const fns = f.tab.find([WRITE, READ, 'no.such/func']);
      t.same(
        [...fns.values()].map((x) => [x.name, x.entry]).sort(),
        [...byElf.entries()].sort(),
        `${f.where}: entries equal the ELF symbols`,
      );
      t.ok(
        [...fns.values()].every((x) => x.end > x.entry),
        'each ends after it starts',
      );
    }
    t.equal(sec.tab.format, 'go1.18', 'Go 1.19 writes the 1.18 header');
    elf.close();
  });

  t.test('RET instructions: the ones the Go toolchain disassembles, for both functions', async (t) => {
    const elf = ElfFile.open(plain);
    const r = locateGoTls(elf, [WRITE, READ])!;
    t.ok(r, 'located');
    t.match(r.note, new RegExp(`^${toolVersion.replace(/\./g, '\\.')}, pclntab in \\.gopclntab$`));
    for (const s of r.symbols) {
      const want = objdumpRets(plain, s.name);
      t.ok(want.length > 0, `${s.name}: objdump shows ${want.length} RETs`);
      t.same(
        s.returns!.map((o) => elf.offsetToVaddr(o)),
        want,
        `${s.name}: the same RETs, as file offsets of this binary`,
      );
      for (const o of s.returns!) t.equal(elf.read(o, 1)[0], 0xc3, `a ret opcode at 0x${o.toString(16)}`);
      t.equal(s.method, 'pclntab');
    }
    elf.close();
  });

  t.test('PIE: found by scanning, entries and RETs as the toolchain sees them', async (t) => {
    const elf = ElfFile.open(pie);
    t.equal(elf.type, 3, 'ET_DYN');
    const r = locateGoTls(elf, [WRITE, READ])!;
    t.match(r.note, /pclntab in scanned \.data\.rel\.ro/);
    const byElf = new Map(elf.symbols('symtab', new Set([WRITE, READ])).map((s) => [s.name, s.value]));
    for (const s of r.symbols) {
      t.equal(elf.offsetToVaddr(s.offset), byElf.get(s.name), `${s.name}: entry`);
      t.same(
        s.returns!.map((o) => elf.offsetToVaddr(o)),
        objdumpRets(pie, s.name),
        `${s.name}: RETs`,
      );
    }
    elf.close();
  });

  t.test('stripped (-ldflags=-s -w): no ELF symbols, the same code located', async (t) => {
    const a = ElfFile.open(plain);
    const b = ElfFile.open(stripped);
    t.same(b.symbols('symtab'), [], 'no .symtab');
    const ra = locateGoTls(a, [WRITE, READ])!;
    const rb = locateGoTls(b, [WRITE, READ])!;
    const rs = locateGoTls(b, [WRITE, READ], undefined, { scan: true })!;
    t.ok(rb && rs, 'located, by section and by scanning');
    for (const r of [rb, rs])
      t.same(
        r.symbols.map((s) => [s.name, b.read(s.offset, 64).toString('hex'), s.returns!.length]),
        ra.symbols.map((s) => [s.name, a.read(s.offset, 64).toString('hex'), s.returns!.length]),
        'same functions, same code, same number of returns',
      );
    a.close();
    b.close();
  });

  t.test('findTlsTarget and --list-targets: lib go, how it was found', async (t) => {
    const tgt = findTlsTarget(stripped)!;
    t.equal(tgt.lib, 'go');
    t.same(
      tgt.symbols.map((s) => s.name),
      [WRITE, READ],
    );
    t.match(tgt.note, /pclntab in \.gopclntab/);
    const listing = describeTargets([tgt]);
    t.match(listing, /: go \(go1\.\d+.*pclntab in \.gopclntab\)/);
    t.match(listing, /crypto\/tls\.\(\*Conn\)\.Write\s+offset 0x[0-9a-f]+ {2}pclntab, returns at 0x[0-9a-f]+/);
  });

  t.test('pclntab header versions: the 1.20 magic reads the same; bad headers are refused', async (t) => {
    const elf = ElfFile.open(plain);
    const data = Buffer.from(elf.sectionData(elf.section('.gopclntab')!));
    const text = elf.section('.text')!.addr;
    const ref = new Pclntab(data, text).find([WRITE, READ]);
    data.writeUInt32LE(PCLNTAB_MAGIC.go120, 0);
    const t120 = new Pclntab(data, text);
    t.equal(t120.format, 'go1.20');
    t.same(t120.find([WRITE, READ]), ref, 'same functions under the 1.20 magic (same layout for what is read)');
    const bad = (patch: (b: Buffer) => void) => {
      const b = Buffer.from(data);
      patch(b);
      return () => new Pclntab(b, text);
    };
    t.throws(
      bad((b) => b.writeUInt32LE(0xfffffffb, 0)),
      GoSymtabError,
      'unknown magic',
    );
    t.throws(
      bad((b) => {
        b[7] = 4;
      }),
      /not a 64-bit table/,
    );
    t.throws(
      bad((b) => b.writeBigUInt64LE(0n, 8)),
      /implausible nfunc/,
    );
    t.throws(
      bad((b) => b.writeBigUInt64LE(BigInt(b.length), 64)),
      /beyond the data/,
    );
    t.throws(() => new Pclntab(Buffer.alloc(16)), /too short/);
    elf.close();
  });
}

t.test('the register ABI: Go 1.17 on', async (t) => {
  t.notOk(hasRegisterAbi('go1.16.15'));
  t.ok(hasRegisterAbi('go1.17'));
  t.ok(hasRegisterAbi('go1.19.8'));
  t.ok(hasRegisterAbi('go1.24.1'));
  t.ok(hasRegisterAbi(undefined), 'unknown: the symbol table version decides');
  t.notOk(hasRegisterAbi('go0.9'));
});

t.test('returnSites: ret and ret imm16, not bytes inside other instructions', async (t) => {
  // mov eax, 0xc3c3c3c3; ret; int3; ret 8
  const code = Buffer.from([0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xcc, 0xc2, 0x08, 0x00]);
  t.same(returnSites(code, 0x1000), [0x1005, 0x1007]);
});
