import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  describeTargets,
  discoverForPid,
  findTlsTarget,
  mappedFiles,
  resolveDockerTarget,
  systemTlsLibraries,
} from './targets.js';
import { clang, haveTool, tempDir } from './testutil.js';

const movEax = (imm: number) => Buffer.from([0xb8, imm & 0xff, (imm >> 8) & 0xff, (imm >> 16) & 0xff, imm >>> 24]);
const noClang = haveTool('clang') ? false : 'clang not installed: cannot build ELF fixtures';

function fakeLib(dir: string, name: string, body: string, extra: string[] = []): string {
  const c = join(dir, `${name}.c`);
  writeFileSync(c, body);
  const out = join(dir, name);
  clang(['-O1', '-shared', '-fPIC', '-o', out, c, ...extra]);
  return out;
}

t.test('library detection from symbols', { skip: noClang }, async (t) => {
  const { dir, cleanup } = tempDir('as-tgt-');
  t.teardown(cleanup);
  const ossl = fakeLib(
    dir,
    'libssl.so.3',
    `
    int SSL_write(void*s,const void*b,int n){return 0x5eed0001;}
    int SSL_read(void*s,void*b,int n){return 0x5eed0002;}
    int SSL_write_ex(void*s,const void*b,unsigned long n,unsigned long*w){return 0x5eed0003;}
    int SSL_do_handshake(void*s){return 0x5eed0004;}
    int OPENSSL_version_major(void){return 3;}`,
  );
  const boring = fakeLib(
    dir,
    'libboring.so',
    `
    int SSL_write(void*s,const void*b,int n){return 0x5eed0011;}
    int SSL_read(void*s,void*b,int n){return 0x5eed0012;}
    void SSL_CTX_set_grease_enabled(void*c,int e){}
    const char *OpenSSL_version(int w){return "BoringSSL";}`,
  );
  const gnutls = fakeLib(
    dir,
    'libgnutls.so.30',
    `
    long gnutls_record_send(void*s,const void*b,unsigned long n){return 0x5eed0021;}
    long gnutls_record_recv(void*s,void*b,unsigned long n){return 0x5eed0022;}`,
  );
  const nspr = fakeLib(
    dir,
    'libnspr4.so',
    `
    int PR_Write(void*f,const void*b,int n){return 0x5eed0031;}
    int PR_Read(void*f,void*b,int n){return 0x5eed0032;}`,
  );
  // GnuTLS's OpenSSL compatibility shim: SSL_write exists but only forwards to GnuTLS.
  const shim = fakeLib(
    dir,
    'libgnutls-openssl.so.27',
    `
    long gnutls_record_send(void*s,const void*b,unsigned long n);
    int SSL_write(void*s,const void*b,int n){return (int)gnutls_record_send(s,b,n);}
    int SSL_read(void*s,void*b,int n){return 0;}`,
    ['-Wl,--unresolved-symbols=ignore-all'],
  );
  const plain = fakeLib(dir, 'libplain.so', 'int add(int a,int b){return a+b;}');

  const o = findTlsTarget(ossl)!;
  t.equal(o.lib, 'openssl');
  t.same(
    o.symbols.map((s) => s.name),
    ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_do_handshake'],
  );
  t.ok(o.symbols.every((s) => s.method === 'dynsym'));
  const bytes = readFileSync(ossl);
  o.symbols.forEach((s, i) =>
    t.same(bytes.subarray(s.offset, s.offset + 5), movEax(0x5eed0001 + i), `${s.name} offset points at its code`),
  );

  t.equal(findTlsTarget(boring)?.lib, 'boringssl', 'BoringSSL told from OpenSSL by its own exports');
  const g = findTlsTarget(gnutls)!;
  t.equal(g.lib, 'gnutls');
  t.same(
    g.symbols.map((s) => s.name),
    ['gnutls_record_send', 'gnutls_record_recv'],
  );
  const n = findTlsTarget(nspr)!;
  t.equal(n.lib, 'nss');
  t.same(
    n.symbols.map((s) => s.name),
    ['PR_Write', 'PR_Read'],
  );
  t.equal(findTlsTarget(shim), null, 'GnuTLS OpenSSL shim is skipped (GnuTLS itself is hooked)');
  t.equal(findTlsTarget(plain), null, 'no TLS');
  t.equal(findTlsTarget(join(dir, 'libplain.c')), null, 'not an ELF file');
  t.equal(findTlsTarget(join(dir, 'missing')), null, 'missing file');

  const listing = describeTargets([o, g]);
  t.match(listing, new RegExp(`^${ossl.replace(/[.]/g, '\\.')}: openssl\\n`));
  t.match(listing, /SSL_write +offset 0x[0-9a-f]{8} +dynsym/);
  t.match(listing, /gnutls_record_recv/);
  t.equal(describeTargets([]), 'no TLS targets found\n');

  // systemTlsLibraries over a fake library directory: NSPR only counts when NSS is there.
  const libdir = join(dir, 'lib');
  mkdirSync(libdir);
  symlinkSync(ossl, join(libdir, 'libssl.so.3'));
  symlinkSync(gnutls, join(libdir, 'libgnutls.so.30'));
  symlinkSync(nspr, join(libdir, 'libnspr4.so'));
  t.same(
    systemTlsLibraries({ dirs: [libdir] }).map((x) => x.lib),
    ['openssl', 'gnutls'],
    'no NSS: NSPR left out',
  );
  symlinkSync(plain, join(libdir, 'libnss3.so'));
  t.same(
    systemTlsLibraries({ dirs: [libdir] }).map((x) => x.lib),
    ['openssl', 'gnutls', 'nss'],
    'with NSS',
  );
});

t.test('the system TLS libraries of this machine', async (t) => {
  const libs = systemTlsLibraries();
  if (!existsSync('/lib/x86_64-linux-gnu/libssl.so.3') && !existsSync('/usr/lib/x86_64-linux-gnu/libssl.so.3')) {
    t.fail('libssl3 (libssl.so.3) is not installed: install Debian package libssl3');
    return;
  }
  const ossl = libs.find((l) => l.lib === 'openssl');
  t.ok(ossl, 'libssl.so.3 found');
  for (const want of ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'SSL_do_handshake']) {
    t.ok(
      ossl!.symbols.some((s) => s.name === want),
      `libssl exports ${want}`,
    );
  }
});

t.test('discoverForPid finds the TLS a running process maps', async (t) => {
  // A child node process: node links OpenSSL statically and exports its symbols.
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 300));
  const files = mappedFiles(child.pid!);
  t.ok(
    files.every((f) => f.startsWith(`/proc/${child.pid}/root/`)),
    'paths go through /proc/PID/root',
  );
  const targets = discoverForPid(child.pid!, { cache: false });
  const node = targets.find((x) => x.symbols.some((s) => s.name === 'SSL_write'));
  t.ok(node, 'the node executable is a TLS target');
  t.equal(node?.lib, 'openssl');
  t.throws(() => discoverForPid(2 ** 22 + 12345), /no such process/);
});

t.test('docker://NAME through the docker CLI', async (t) => {
  const { dir, cleanup } = tempDir('as-docker-');
  const savedPath = process.env.PATH;
  t.teardown(() => {
    process.env.PATH = savedPath;
    cleanup();
  });
  process.env.PATH = join(dir, 'empty');
  t.throws(() => resolveDockerTarget('docker://web'), /docker:\/\/web: the docker CLI is not installed/);

  // A stand-in docker CLI: `inspect` answers with our own pid for "web", fails otherwise.
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'docker'),
    `#!/bin/sh\n[ "$1" = inspect ] || exit 2\nfor a; do last=$a; done\n` +
      `if [ "$last" = web ]; then echo ${process.pid}; elif [ "$last" = stopped ]; then echo 0; else echo "Error: No such object: $last" >&2; exit 1; fi\n`,
    { mode: 0o755 },
  );
  process.env.PATH = `${bin}:${savedPath}`;
  const r = resolveDockerTarget('docker://web');
  t.equal(r.pid, process.pid);
  t.equal(
    r.path,
    `/proc/${process.pid}/root${readlinkSync('/proc/self/exe')}`,
    "the container's executable, seen from the host",
  );
  t.throws(() => resolveDockerTarget('docker://gone'), /docker inspect failed: Error: No such object: gone/);
  t.throws(() => resolveDockerTarget('stopped'), /container is not running/);
});
