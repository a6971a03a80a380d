// Stripped static BoringSSL in real agents: Bun (two releases) and the Claude Code native
// binary, installed by `make agents` into .cache/agents. Static part: the locator finds
// SSL_write/SSL_read/SSL_do_handshake, and (Claude keeps .eh_frame) its function starts agree
// with the unwind tables. Kernel part (root): real uprobes on the offsets found, through
// tracefs, while the agent talks to a local TLS server; the byte counts the probes see at
// SSL_write/SSL_read returns must equal what the server received/sent, and SSL_write's
// buffer must start with the request line.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  analyseBoringSsl,
  discoverForPid,
  ElfFile,
  ehFrameFunctionStarts,
  findTlsTarget,
  type TlsTarget,
} from '@agentsight/sslsniff';
import t from 'tap';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const AGENTS = join(ROOT, '.cache/agents');
const BINARIES = [
  { name: 'Bun 1.4.5', kind: 'bun', path: join(AGENTS, 'node_modules/@oven/bun-linux-x64/bin/bun') },
  { name: 'Bun 1.3.14', kind: 'bun', path: join(AGENTS, 'bun-1.3.14/node_modules/@oven/bun-linux-x64/bin/bun') },
  {
    name: 'Claude Code 2.1.197',
    kind: 'claude',
    path: join(AGENTS, 'node_modules/@anthropic-ai/claude-code-linux-x64/claude'),
  },
] as const;

const cacheDir = mkdtempSync(join(tmpdir(), 'as-boring-cache-'));
process.env.AGENTSIGHT_CACHE_DIR = cacheDir;
t.teardown(() => rmSync(cacheDir, { recursive: true, force: true }));

const found = new Map<string, TlsTarget>();

for (const b of BINARIES) {
  t.test(
    `${b.name}: locate SSL functions without symbols`,
    { skip: existsSync(b.path) ? false : `MISSING ${b.path}: run \`make agents\`` },
    async (t) => {
      const elf = ElfFile.open(b.path);
      t.teardown(() => elf.close());
      t.same(elf.symbols('dynsym', new Set(['SSL_write', 'SSL_read'])), [], 'no exported SSL symbols');
      t.same(elf.symbols('symtab', new Set(['SSL_write', 'SSL_read'])), [], 'no SSL symbols in .symtab');
      const t0 = Date.now();
      const target = findTlsTarget(b.path, { log: (m) => t.comment(m) });
      const ms = Date.now() - t0;
      t.comment(`${b.name}: ${(elf.size / 1048576).toFixed(0)} MB scanned in ${ms} ms`);
      t.ok(target, 'found a TLS target');
      if (!target) return;
      t.equal(target.lib, 'boringssl');
      t.same(
        target.symbols.map((s) => s.name),
        ['SSL_write', 'SSL_read', 'SSL_do_handshake'],
      );
      t.ok(target.symbols.every((s) => s.method === 'heuristic'));
      found.set(b.path, target);
      const t1 = Date.now();
      t.same(findTlsTarget(b.path)?.symbols, target.symbols, 'cached result agrees');
      t.comment(`${b.name}: cached lookup ${Date.now() - t1} ms`);

      const unwind = ehFrameFunctionStarts(elf);
      if (unwind) {
        // Ground truth for the boundary heuristics: analyse without the unwind tables and check
        // every function start they produced against .eh_frame_hdr.
        const a = analyseBoringSsl(elf, { useUnwind: false })!;
        const starts = new Set(unwind);
        const bad = a.functions.filter((f) => !starts.has(f.start)).map((f) => f.start.toString(16));
        t.same(bad, [], `all ${a.functions.length} heuristic function starts are .eh_frame function starts`);
        t.same(
          [a.ssl_write, a.ssl_read, a.ssl_do_handshake].map((v) => elf.vaddrToOffset(v!)),
          target.symbols.map((s) => s.offset),
          'same answer with and without unwind tables',
        );
      } else {
        t.comment(`${b.name}: no .eh_frame_hdr, boundaries from padding and call targets only`);
      }
    },
  );
}

t.test(
  'a running Bun process: -p discovery and as-sslsniff --list-targets',
  { skip: existsSync(BINARIES[0].path) ? false : `MISSING ${BINARIES[0].path}: run \`make agents\`` },
  async (t) => {
    const bun = BINARIES[0].path;
    const child = spawn(bun, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    t.teardown(() => child.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 500));
    const targets = discoverForPid(child.pid!);
    const exe = targets.find((x) => x.lib === 'boringssl');
    t.ok(exe, 'the Bun executable is found among the mapped files');
    t.equal(exe?.path, `/proc/${child.pid}/root${bun}`, 'reached through /proc/PID/root');
    t.same(exe?.symbols, findTlsTarget(bun)?.symbols, 'same offsets as the file itself');

    const tool = join(ROOT, 'dist/tools/as-sslsniff.js');
    const out = execFileSync(process.execPath, [tool, '--list-targets', '-p', String(child.pid)], {
      encoding: 'utf8',
      timeout: 60000,
    });
    for (const s of exe?.symbols ?? []) {
      t.match(
        out,
        new RegExp(`${s.name} +offset 0x0*${s.offset.toString(16)} +heuristic`),
        `--list-targets shows ${s.name}`,
      );
    }
  },
);

const isRoot = process.getuid?.() === 0;
const TRACEFS = '/sys/kernel/tracing';

function ensureTracefs(): string | null {
  if (existsSync(join(TRACEFS, 'uprobe_events'))) return null;
  try {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { stdio: 'ignore' });
  } catch (e) {
    return `cannot mount tracefs: ${(e as Error).message}`;
  }
  return existsSync(join(TRACEFS, 'uprobe_events')) ? null : 'kernel has no uprobe_events (CONFIG_UPROBE_EVENTS)';
}

/** Uprobes defined through tracefs in a private group and trace instance, removed on close. */
class UprobeSession {
  readonly group = `as_boring_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  readonly inst = join(TRACEFS, 'instances', this.group);
  private events: string[] = [];
  constructor() {
    mkdirSync(this.inst);
    writeFileSync(join(this.inst, 'buffer_size_kb'), '8192');
    writeFileSync(join(this.inst, 'options/record-tgid'), '1');
  }
  add(name: string, spec: string): void {
    writeFileSync(join(TRACEFS, 'uprobe_events'), `${spec.replace(/^([pr]):/, `$1:${this.group}/${name} `)}\n`, {
      flag: 'a',
    });
    this.events.push(name);
  }
  enable(): void {
    writeFileSync(join(this.inst, 'events', this.group, 'enable'), '1');
  }
  read(): string {
    return readFileSync(join(this.inst, 'trace'), 'utf8');
  }
  close(): void {
    try {
      writeFileSync(join(this.inst, 'events', this.group, 'enable'), '0');
    } catch {
      /* not enabled */
    }
    try {
      rmdirSync(this.inst);
    } catch {
      /* best effort */
    }
    for (const e of this.events) {
      try {
        writeFileSync(join(TRACEFS, 'uprobe_events'), `-:${this.group}/${e}\n`, { flag: 'a' });
      } catch {
        /* gone */
      }
    }
  }
}

interface TraceHit {
  tgid: number;
  event: string;
  args: string;
}
function parseTrace(text: string): TraceHit[] {
  const out: TraceHit[] = [];
  // "comm-tid (  tgid) [cpu] flags ts: event: (addr...) args"
  const re = /^\s*.+?-\d+\s+\(\s*(\d+)\)\s+\[\d+\]\s+\S+\s+[\d.]+:\s+(\w+):\s+\([^)]*\)\s?(.*)$/;
  let cur: TraceHit | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = re.exec(line);
    if (m) {
      cur = { tgid: Number(m[1]), event: m[2]!, args: m[3]! };
      out.push(cur);
    } else if (cur) {
      cur.args += '\n' + line; // a string argument spanning lines
    }
  }
  return out;
}

function makeCert(dir: string): { key: Buffer; cert: Buffer } {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore', timeout: 30000 },
  );
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

/**
 * A TLS server speaking just enough HTTP/1.1: one request per connection, a fixed response,
 * then close. Counts the plaintext bytes it received and sent, the oracle for the probes.
 */
function startServer(creds: { key: Buffer; cert: Buffer }) {
  const stats = { received: 0, sent: 0, requests: [] as string[] };
  const server = tls.createServer(creds, (sock) => {
    let buf = Buffer.alloc(0);
    let answered = false;
    sock.on('data', (d: Buffer) => {
      stats.received += d.length;
      buf = Buffer.concat([buf, d]);
      const h = buf.indexOf('\r\n\r\n');
      if (h < 0 || answered) return;
      const head = buf.subarray(0, h).toString('latin1');
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < h + 4 + len) return;
      answered = true;
      stats.requests.push(head.split('\r\n')[0]!);
      const body = JSON.stringify({
        type: 'error',
        error: { type: 'invalid_request_error', message: 'agentsight boringssl test' },
      });
      const isHead = head.startsWith('HEAD ');
      const resp = Buffer.from(
        `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${isHead ? '' : body}`,
      );
      stats.sent += resp.length;
      sock.end(resp);
    });
    sock.on('error', () => {});
  });
  return new Promise<{ port: number; stats: typeof stats; close: () => void }>((res) => {
    server.listen(0, '127.0.0.1', () =>
      res({ port: (server.address() as AddressInfo).port, stats, close: () => server.close() }),
    );
  });
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ pid: number; code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ pid: child.pid!, code, out });
    });
  });
}

const kernelSkip = !isRoot ? 'not root: uprobes need CAP_SYS_ADMIN (run the kernel tests as root)' : ensureTracefs();

t.test('real uprobes at the located offsets fire with the plaintext', { skip: kernelSkip ?? false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'as-boring-k-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const creds = makeCert(dir);
  writeFileSync(join(dir, 'cert.pem'), creds.cert);

  for (const b of BINARIES) {
    const target = found.get(b.path);
    t.test(b.name, { skip: target ? false : `MISSING ${b.path} or not located: run \`make agents\`` }, async (t) => {
      const srv = await startServer(creds);
      t.teardown(srv.close);
      const up = new UprobeSession();
      t.teardown(() => up.close());
      const off = (n: string) => `0x${target!.symbols.find((s) => s.name === n)!.offset.toString(16)}`;
      up.add('w', `p:${b.path}:${off('SSL_write')} head=+0(%si):x8[64] len=%dx:s32`);
      up.add('wr', `r:${b.path}:${off('SSL_write')} ret=$retval:s32`);
      up.add('rr', `r:${b.path}:${off('SSL_read')} ret=$retval:s32`);
      up.add('hs', `p:${b.path}:${off('SSL_do_handshake')}`);
      up.enable();

      const token = `agentsight-${process.pid}-${Date.now()}`;
      const home = join(dir, `home-${b.kind}`);
      mkdirSync(home, { recursive: true });
      const env = {
        PATH: process.env.PATH,
        HOME: home,
        NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
      } as NodeJS.ProcessEnv;
      let r;
      if (b.kind === 'bun') {
        const script = `const r = await fetch("https://127.0.0.1:${srv.port}/${token}", { method: "POST", body: "x".repeat(5000), tls: { rejectUnauthorized: false } }); console.log(r.status, (await r.text()).length);`;
        r = await run(b.path, ['-e', script], env, 30000);
      } else {
        r = await run(
          b.path,
          ['-p', token],
          {
            ...env,
            ANTHROPIC_BASE_URL: `https://127.0.0.1:${srv.port}`,
            ANTHROPIC_API_KEY: 'sk-ant-agentsight-test',
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
            DISABLE_TELEMETRY: '1',
            DISABLE_AUTOUPDATER: '1',
          },
          60000,
        );
      }
      await new Promise((res) => setTimeout(res, 200));
      t.comment(
        `${b.name} exit ${r.code}: ${r.out.trim().slice(0, 200)}; server saw ${JSON.stringify(srv.stats.requests)}`,
      );
      t.ok(srv.stats.requests.length > 0, 'the agent reached the server');
      const hits = parseTrace(up.read()).filter((h) => h.tgid === r.pid);
      const count = (e: string) => hits.filter((h) => h.event === e).length;
      t.ok(count('hs') > 0, `SSL_do_handshake probe fired (${count('hs')})`);
      const sum = (e: string) =>
        hits
          .filter((h) => h.event === e)
          .map((h) => Number(/ret=(-?\d+)/.exec(h.args)?.[1] ?? 0))
          .filter((v) => v > 0)
          .reduce((a, v) => a + v, 0);
      t.equal(
        sum('wr'),
        srv.stats.received,
        `bytes returned by SSL_write = bytes the server received (${srv.stats.received})`,
      );
      t.equal(sum('rr'), srv.stats.sent, `bytes returned by SSL_read = bytes the server sent (${srv.stats.sent})`);
      // A string fetch would read past the unterminated buffer (and fault); a fixed byte array does not.
      const writes = hits
        .filter((h) => h.event === 'w')
        .map((h) => {
          const hex = /head=\{([^}]*)\}/.exec(h.args)?.[1] ?? '';
          return Buffer.from(hex.split(',').map((x) => Number(x))).toString('latin1');
        });
      const firstLines = srv.stats.requests;
      for (const line of firstLines)
        t.ok(
          writes.some((w) => w.startsWith(line.slice(0, 64))),
          `SSL_write buffer starts with "${line.slice(0, 60)}"`,
        );
      if (b.kind === 'claude') {
        t.ok(
          firstLines.some((l) => l.startsWith('POST /v1/messages')),
          'Claude sent its Messages API request',
        );
      } else {
        t.ok(
          firstLines.some((l) => l.includes(token)),
          'Bun sent the request with the token',
        );
      }
    });
  }
});
