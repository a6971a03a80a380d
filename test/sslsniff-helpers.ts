// Helpers for the as-sslsniff kernel tests: a raw TLS server that records exactly which
// bytes crossed each connection, TLS clients of every kind, and the capture tool itself.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodePayload, type SslDataEvent } from '@agentsight/events';
import { parseNdjson, ROOT } from './lib/run.js';

export const SNIFF = path.join(ROOT, 'dist/tools/as-sslsniff.js');
export const BPF_OBJ = path.join(ROOT, 'bpf/sslsniff.bpf.o');

export const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** Why the kernel tests cannot run here, or '' when they can. */
export function kernelSkipReason(): string {
  if (process.getuid?.() !== 0) return 'needs root: real eBPF uprobes';
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return 'kernel without BTF';
  if (!fs.existsSync(BPF_OBJ)) return `${BPF_OBJ} not built (make build)`;
  if (!fs.existsSync(SNIFF)) return `${SNIFF} not built (make build)`;
  return '';
}

export function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'as-sslsniff-test-'));
}

export function makeCert(dir: string): { key: string; cert: string } {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore', timeout: 20000 },
  );
  return { key, cert };
}

/** One connection as the server saw it: the exact bytes in each direction. */
export interface ServerConn {
  reqSha: string;
  reqLen: number;
  respSha: string;
  respLen: number;
  path: string;
}

// A TLS server that parses just enough HTTP/1.1 (headers, Content-Length) to know where a
// request ends, answers /size/N with N random bytes and closes, and logs a hash of the
// raw bytes each way. TLS is a faithful byte pipe, so those are the bytes the client's
// SSL_write passed in and its SSL_read handed back.
const SERVER_SRC = String.raw`
const tls = require('tls'), fs = require('fs'), crypto = require('crypto');
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const srv = tls.createServer({ key: fs.readFileSync(process.env.KEY), cert: fs.readFileSync(process.env.CERT) }, (s) => {
  // The request is hashed as it streams in: holding and re-concatenating 16 MiB would
  // make the server, not the capture, the slow part.
  let head = Buffer.alloc(0), h = crypto.createHash('sha256'), len = 0, left = -1, p = '/', done = false;
  s.on('error', () => {});
  s.on('data', (d) => {
    if (done) return;
    if (left < 0) {
      head = Buffer.concat([head, d]);
      const he = head.indexOf('\r\n\r\n');
      if (he < 0) return;
      const hs = head.subarray(0, he).toString('latin1');
      const m = /content-length:\s*(\d+)/i.exec(hs);
      p = hs.split(' ')[1] || '/';
      left = he + 4 + (m ? Number(m[1]) : 0);
      d = head;
    }
    const take = d.subarray(0, Math.min(d.length, left));
    h.update(take);
    len += take.length;
    left -= take.length;
    if (left > 0) return;
    done = true;
    const n = Number((/\/size\/(\d+)/.exec(p) || [0, 0])[1]);
    const body = crypto.randomBytes(n);
    const resp = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ' + n + '\r\nConnection: close\r\n\r\n'), body]);
    process.stdout.write(JSON.stringify({ reqSha: h.digest('hex'), reqLen: len, respSha: sha(resp), respLen: resp.length, path: p }) + '\n');
    s.end(resp);
  });
});
srv.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + srv.address().port + '\n'));
`;

export interface TestServer {
  port: number;
  pid: number;
  conns: ServerConn[];
  waitConns(n: number, timeoutMs?: number): Promise<void>;
  stop(): void;
}

export function startServer(tls: { key: string; cert: string }): Promise<TestServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SERVER_SRC], {
      env: { ...process.env, KEY: tls.key, CERT: tls.cert },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const conns: ServerConn[] = [];
    let port = 0;
    let rest = '';
    const timer = setTimeout(() => reject(new Error('test server did not start')), 15000);
    child.stdout!.on('data', (d: Buffer) => {
      rest += d.toString();
      let nl;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        if (line.startsWith('listening ')) {
          port = Number(line.slice(10));
          clearTimeout(timer);
          resolve(server);
        } else if (line) conns.push(JSON.parse(line));
      }
    });
    child.on('error', reject);
    const server: TestServer = {
      get port() {
        return port;
      },
      pid: child.pid!,
      conns,
      async waitConns(n, timeoutMs = 60000) {
        const end = Date.now() + timeoutMs;
        while (conns.length < n) {
          if (Date.now() > end) throw new Error(`server saw ${conns.length} of ${n} connections`);
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      stop() {
        child.kill('SIGKILL');
      },
    };
  });
}

export interface Capture {
  child: ChildProcess;
  stderr(): string;
  /** Stop reading the tool's stdout (its pipe fills and it must hold back), and resume. */
  pauseOutput(): void;
  resumeOutput(): void;
  /** SIGINT, wait for exit, return the events and exit code. */
  stop(): Promise<{ code: number | null; events: Array<Record<string, any>>; stderr: string }>;
}

/** Start as-sslsniff and wait until its probes are attached. */
export function startCapture(args: string[], timeoutMs = 30000): Promise<Capture> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SNIFF, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let ready = false;
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`as-sslsniff did not start: ${err}`));
    }, timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (!ready && /capturing:/.test(err)) {
        ready = true;
        clearTimeout(timer);
        resolve(cap);
      }
    });
    void exited.then((code) => {
      if (!ready) {
        clearTimeout(timer);
        reject(new Error(`as-sslsniff exited ${code}: ${err}`));
      }
    });
    const cap: Capture = {
      child,
      stderr: () => err,
      pauseOutput: () => {
        child.stdout!.pause();
      },
      resumeOutput: () => {
        child.stdout!.resume();
      },
      async stop() {
        // Let the last records reach the ring consumer before asking it to stop.
        await new Promise((r) => setTimeout(r, 300));
        child.kill('SIGINT');
        const kill = setTimeout(() => child.kill('SIGKILL'), 20000);
        const code = await exited;
        clearTimeout(kill);
        return { code, events: parseNdjson(Buffer.concat(out)), stderr: err };
      },
    };
  });
}

/** The byte streams of one connection, rebuilt from its data events in seq order. */
export interface Stream {
  conn: string;
  pid: number;
  comm: string;
  lib: string;
  write: Buffer;
  read: Buffer;
  /** Problems found while rebuilding (seq gaps, truncation). */
  problems: string[];
}

export function streams(events: Array<Record<string, any>>): Map<string, Stream> {
  const by = new Map<string, SslDataEvent[]>();
  for (const e of events) {
    if (e.src !== 'ssl' || e.type !== 'data') continue;
    const l = by.get(e.conn) ?? [];
    l.push(e as SslDataEvent);
    by.set(e.conn, l);
  }
  const out = new Map<string, Stream>();
  for (const [conn, evs] of by) {
    const problems: string[] = [];
    const dirBuf = (dir: 'read' | 'write') => {
      const l = evs.filter((e) => e.dir === dir).sort((a, b) => a.seq - b.seq);
      l.forEach((e, i) => {
        if (e.seq !== i) problems.push(`${dir} seq ${e.seq} at position ${i}`);
        if (e.truncated) problems.push(`${dir} seq ${e.seq} truncated`);
        if (decodePayload(e).length !== e.len)
          problems.push(`${dir} seq ${e.seq}: ${decodePayload(e).length} bytes for len ${e.len}`);
      });
      return Buffer.concat(l.map((e) => decodePayload(e)));
    };
    const first = evs[0]!;
    out.set(conn, {
      conn,
      pid: first.pid,
      comm: first.comm,
      lib: first.lib,
      write: dirBuf('write'),
      read: dirBuf('read'),
      problems,
    });
  }
  return out;
}

/** Run a command to completion with a time limit. */
export function run(
  cmd: string,
  args: string[],
  opts: { input?: Buffer | string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: Buffer; stderr: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    let err = '';
    c.stdout!.on('data', (d: Buffer) => out.push(d));
    c.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    c.stdin!.on('error', () => {});
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error(`${cmd} timed out: ${err}`));
    }, opts.timeoutMs ?? 60000);
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err, pid: c.pid! });
    });
    c.stdin!.end(opts.input ?? '');
  });
}

/** curl POSTing `bodyFile` to /size/N. */
export function curl(port: number, bodyFile: string, n: number) {
  return run(
    'curl',
    [
      '-sS',
      '-k',
      '--http1.1',
      '-H',
      'Expect:',
      '-H',
      'Content-Type: application/octet-stream',
      '--data-binary',
      `@${bodyFile}`,
      '-o',
      '/dev/null',
      `https://127.0.0.1:${port}/size/${n}`,
    ],
    { timeoutMs: 60000 },
  );
}

/** /usr/bin/python3 (system libssl.so.3) POSTing `bodyFile` with urllib. */
export function python(port: number, bodyFile: string, n: number) {
  const src = `
import ssl, sys, urllib.request
ctx = ssl._create_unverified_context()
body = open(sys.argv[1], 'rb').read()
req = urllib.request.Request('https://127.0.0.1:%s/size/%s' % (sys.argv[2], sys.argv[3]), data=body, method='POST', headers={'Content-Type': 'application/octet-stream'})
r = urllib.request.urlopen(req, context=ctx).read()
assert len(r) == int(sys.argv[3]), len(r)
`;
  return run('/usr/bin/python3', ['-c', src, bodyFile, String(port), String(n)], { timeoutMs: 60000 });
}

// A node client that waits for "go" on stdin, so a capture can be started on its pid first,
// then makes its requests one after the other (one connection each).
const NODE_CLIENT_SRC = String.raw`
const https = require('https'), fs = require('fs');
const [port, ...jobs] = process.argv.slice(1);
function one(bodyFile, n) {
  const body = fs.readFileSync(bodyFile);
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: Number(port), path: '/size/' + n, method: 'POST', rejectUnauthorized: false, agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
      let got = 0;
      res.on('data', (d) => { got += d.length; });
      res.on('end', () => got === Number(n) ? resolve() : reject(new Error('short response ' + got)));
    });
    req.on('error', reject);
    req.end(body);
  });
}
process.stdin.once('data', async () => {
  try {
    for (const j of jobs) { const i = j.lastIndexOf(':'); await one(j.slice(0, i), j.slice(i + 1)); }
    process.exit(0);
  } catch (e) { console.error(e); process.exit(2); }
});
process.stdout.write('ready\n');
`;

/** Spawn a node client that waits; `go()` starts its requests, `done` resolves with its exit code. */
export function nodeClient(
  port: number,
  jobs: Array<[string, number]>,
): Promise<{ pid: number; go(): void; done: Promise<number | null> }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', NODE_CLIENT_SRC, String(port), ...jobs.map(([f, n]) => `${f}:${n}`)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const done = new Promise<number | null>((r) => c.on('close', r));
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
    }, 90000);
    void done.then(() => clearTimeout(timer));
    c.on('error', reject);
    c.stdout!.once('data', () => resolve({ pid: c.pid!, go: () => c.stdin!.write('go\n'), done }));
  });
}

/**
 * gnutls-cli sending a raw request; stdin stays open until the whole response arrived
 * (gnutls-cli stops at end of input), then the client is told to finish.
 */
export function gnutlsCli(
  port: number,
  request: Buffer,
  respLen: number,
): Promise<{ code: number | null; got: number; pid: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn('gnutls-cli', ['--insecure', '--logfile=/dev/null', '-p', String(port), '127.0.0.1'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let got = 0;
    const timer = setTimeout(() => {
      c.kill('SIGKILL');
      reject(new Error('gnutls-cli timed out'));
    }, 60000);
    c.stdout!.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= respLen) c.stdin!.end();
    });
    c.stderr!.on('data', () => {});
    c.stdin!.on('error', () => {});
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, got, pid: c.pid! });
    });
    // Give the handshake a moment; gnutls-cli reads stdin only once connected.
    setTimeout(() => c.stdin!.write(request), 300);
  });
}

/** A file of n random bytes in dir. */
export function bodyFile(dir: string, n: number, name = `body-${n}`): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, crypto.randomBytes(n));
  return p;
}

/** Find the captured stream whose bytes match a server connection, by hash. */
export function matchConn(s: Map<string, Stream>, c: ServerConn): Stream | undefined {
  for (const st of s.values()) if (sha(st.write) === c.reqSha && st.write.length === c.reqLen) return st;
  return undefined;
}
