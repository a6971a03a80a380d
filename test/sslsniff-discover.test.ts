// Programs started after the capture, as root with real uprobes: as-sslsniff -c COMM and
// agentsight record -c COMM running first, then the client. Each must be captured from its
// first request: curl and python (system libssl, attached by file at start), node and the
// Claude Code native binary (TLS in their own executable, followed at exec: the capture has
// never seen the file before). A node binary copied under a new name stands for a program
// the capture cannot know beforehand. A process a job-control shell would see stop (a job
// in a terminal, or of a script with `set -m`) is not held; one in its parent's process group is.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { CLAUDE_BIN, claudeCode } from './lib/agents.js';
import { parseNdjson, ROOT } from './lib/run.js';
import {
  bodyFile,
  curl,
  kernelSkipReason,
  makeCert,
  matchConn,
  python,
  run,
  sha,
  startCapture,
  startServer,
  streams,
  type TestServer,
  tmpdir,
} from './sslsniff-helpers.js';

// One request at start, no waiting: whatever the capture misses is the first request.
const CLIENT_SRC = String.raw`
const https = require('https'), fs = require('fs');
const [port, file, n] = process.argv.slice(1);
const body = fs.readFileSync(file);
const req = https.request({ host: '127.0.0.1', port: Number(port), path: '/size/' + n, method: 'POST', rejectUnauthorized: false, agent: false,
  headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
  let got = 0;
  res.on('data', (d) => { got += d.length; });
  res.on('end', () => process.exit(got === Number(n) ? 0 : 3));
});
req.on('error', (e) => { console.error(e.message); process.exit(2); });
req.end(body);
`;

const why = kernelSkipReason();
if (why) {
  t.test('as-sslsniff follows programs started later', { skip: why }, async () => {});
} else {
  const dir = tmpdir();
  const tlsFiles = makeCert(dir);
  let server: TestServer;
  /** A node binary the capture has never seen, under a name of its own (its comm). */
  const nodeCopy = (name: string) => {
    const p = path.join(dir, name);
    fs.copyFileSync(fs.realpathSync(process.execPath), p);
    fs.chmodSync(p, 0o755);
    return p;
  };
  t.before(async () => {
    server = await startServer(tlsFiles);
  });
  t.teardown(() => {
    server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t.test('-c curl first, then curl: its first request whole; python at the same time not captured', async (t) => {
    const body = bodyFile(dir, 5000, 'curl-body');
    const cap = await startCapture(['-c', 'curl']);
    const from = server.conns.length;
    const [c, p] = await Promise.all([curl(server.port, body, 6000), python(server.port, body, 7000)]);
    t.equal(c.code, 0, c.stderr);
    t.equal(p.code, 0, p.stderr);
    await server.waitConns(from + 2);
    const { events } = await cap.stop();
    const conn = server.conns.slice(from).find((x) => x.path === '/size/6000')!;
    const st = matchConn(streams(events), conn);
    t.ok(st, 'the request captured whole');
    t.equal(st && sha(st.read), conn.respSha, 'the response too');
    t.same([...new Set(events.filter((e) => e.type === 'data').map((e) => e.comm))], ['curl'], 'no python3 events');
  });

  t.test('-c python3 first, then python (libssl loaded by _ssl after start): its first request whole', async (t) => {
    const body = bodyFile(dir, 3000, 'py-body');
    const cap = await startCapture(['-c', 'python3']);
    const from = server.conns.length;
    const p = await python(server.port, body, 2500);
    t.equal(p.code, 0, p.stderr);
    await server.waitConns(from + 1);
    const { events } = await cap.stop();
    const st = matchConn(streams(events), server.conns[from]!);
    t.ok(st, 'the request captured whole');
    t.equal(st?.pid, p.pid);
  });

  t.test(
    '-c NAME first, then a node program never seen before: held at exec, hooked, its first request whole',
    async (t) => {
      const exe = nodeCopy('agentnode');
      const body = bodyFile(dir, 4000, 'node-body');
      const cap = await startCapture(['-c', 'agentnode']);
      t.notMatch(cap.stderr(), new RegExp(exe), 'the program is not known at start');
      const from = server.conns.length;
      const [r, other] = await Promise.all([
        run(exe, ['-e', CLIENT_SRC, String(server.port), body, '3000']),
        run(process.execPath, ['-e', CLIENT_SRC, String(server.port), body, '3100']),
      ]);
      t.equal(r.code, 0, r.stderr);
      t.equal(other.code, 0, other.stderr);
      await server.waitConns(from + 2);
      const { events, stderr } = await cap.stop();
      t.match(
        stderr,
        new RegExp(
          `${exe}: openssl TLS hooked, \\d+ functions \\(exec'd by agentnode pid ${r.pid}, held until then\\)`,
        ),
      );
      t.match(stderr, /followed: \d+ new files looked at, 1 with TLS hooked; 1 processes held/);
      const conn = server.conns.slice(from).find((x) => x.path === '/size/3000')!;
      const st = matchConn(streams(events), conn);
      t.ok(st, 'the first request captured whole');
      t.equal(st?.pid, r.pid);
      t.equal(st && sha(st.read), conn.respSha);
      t.same(
        [...new Set(events.filter((e) => e.type === 'data').map((e) => e.comm))],
        ['agentnode'],
        'the other node process not captured',
      );
      t.ok(
        events.some((e) => e.type === 'attach' && e.path === exe && e.symbol === 'SSL_write'),
        'attach events for the followed file',
      );
    },
  );

  t.test('--no-hold: followed, but nothing stopped', async (t) => {
    const exe = nodeCopy('agentnode2');
    const cap = await startCapture(['-c', 'agentnode2', '--no-hold']);
    const r = await run(exe, ['-e', `setTimeout(() => {}, 1500)`]);
    t.equal(r.code, 0);
    const { stderr } = await cap.stop();
    t.match(stderr, /agentnode2: openssl TLS hooked/);
    t.match(stderr, /0 processes held/);
  });

  t.test("a job a job-control shell started is not held; a child in its parent's group is", async (t) => {
    // A session leader with a terminal (a login shell), whose child execs the program: once
    // in a process group of its own (a job, as an interactive shell makes), once not.
    const src = String.raw`
import os, pty, sys
exe, own_group = sys.argv[1], sys.argv[2] == '1'
pid, fd = pty.fork()
if pid == 0:
    c = os.fork()
    if c == 0:
        if own_group:
            os.setpgid(0, 0)
        os.execv(exe, [exe, '-e', 'setTimeout(() => {}, 300)'])
    os.waitpid(c, 0)
    os._exit(0)
while True:
    try:
        if not os.read(fd, 1024):
            break
    except OSError:
        break
os.waitpid(pid, 0)
`;
    const job = nodeCopy('agentjob');
    const cap = await startCapture(['-c', 'agentjob']);
    t.equal((await run('/usr/bin/python3', ['-c', src, job, '1'])).code, 0);
    let { stderr } = await cap.stop();
    t.match(
      stderr,
      /agentjob: openssl TLS hooked, \d+ functions \(exec'd by agentjob pid \d+\)/,
      'a terminal job: hooked, not held',
    );
    t.match(stderr, /0 processes held/);
    const child = nodeCopy('agentchild');
    const cap2 = await startCapture(['-c', 'agentchild']);
    t.equal((await run('/usr/bin/python3', ['-c', src, child, '0'])).code, 0);
    ({ stderr } = await cap2.stop());
    t.match(
      stderr,
      /agentchild: openssl TLS hooked, \d+ functions \(exec'd by agentchild pid \d+, held until then\)/,
      "in its parent's group: held",
    );
  });

  t.test('a job of a script with job control (set -m, no terminal) is not held: its wait sees it exit', async (t) => {
    const job = nodeCopy('agentsetm');
    const cap = await startCapture(['-c', 'agentsetm']);
    // Held, the job would be reported stopped: wait returns 148+ and the script goes on without it.
    const r = await run('/bin/bash', [
      '-c',
      `set -m; ${job} -e 'setTimeout(() => {}, 300)' & wait $!; echo "wait status $?"`,
    ]);
    const { stderr } = await cap.stop();
    t.equal(r.code, 0);
    t.match(r.stdout.toString(), /wait status 0/, 'the job ran to its end, never seen stopped');
    t.match(stderr, /agentsetm: openssl TLS hooked, \d+ functions \(exec'd by agentsetm pid \d+\)/, 'hooked, not held');
  });

  t.test(
    '-c claude first, then the Claude Code native binary: its Messages API call captured',
    { skip: fs.existsSync(CLAUDE_BIN) ? false : `MISSING ${CLAUDE_BIN}: run \`make agents\`` },
    async (t) => {
      const { startMockLlm } = await import('@agentsight/mock-llm');
      const mock = await startMockLlm({ script: () => ({ text: 'hello from the mock' }) });
      t.teardown(() => mock.close());
      const home = path.join(dir, 'claude-home');
      fs.mkdirSync(home, { recursive: true });
      const l = claudeCode().launch({
        mock: { url: mock.url, caPath: mock.caPath },
        prompt: 'say hello',
        cwd: dir,
        home,
      });
      const cap = await startCapture(['-c', 'claude'], 60000);
      const r = await run(l.cmd[0]!, l.cmd.slice(1), { env: { ...l.env } as NodeJS.ProcessEnv, timeoutMs: 90000 });
      const { events, stderr } = await cap.stop();
      t.comment(`claude exit ${r.code}`);
      t.match(
        stderr,
        /claude: boringssl TLS hooked, \d+ functions \(exec'd by claude pid \d+, held until then\)/,
        'followed at exec',
      );
      const calls = mock.requests.filter((q) => q.path.endsWith('/messages'));
      t.ok(calls.length >= 1, `claude called the mock (${mock.requests.length} requests)`);
      const writes = events.filter((e) => e.type === 'data' && e.dir === 'write' && e.pid === r.pid);
      const posts = writes.filter((e) =>
        Buffer.from(e.data, e.enc === 'base64' ? 'base64' : 'utf8')
          .toString('latin1')
          .startsWith('POST /v1/messages'),
      );
      t.equal(posts.length, calls.length, 'every Messages API request captured, the first included');
    },
  );

  t.test(
    'agentsight record -c NAME first, then a node program never seen before: its TLS in the capture',
    async (t) => {
      const exe = nodeCopy('agentnode3');
      const body = bodyFile(dir, 2000, 'rec-body');
      const out = path.join(dir, 'rec.ndjson');
      const rec = spawn(
        process.execPath,
        [
          path.join(ROOT, 'dist/tools/agentsight.js'),
          'record',
          '--no-server',
          '--interval',
          '0',
          '--raw',
          '-c',
          'agentnode3',
          '-o',
          out,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      rec.stderr.on('data', (d) => {
        err += d;
      });
      const exited = new Promise<number | null>((res) => rec.on('exit', (c) => res(c)));
      await new Promise<void>((res, rej) => {
        const w = setInterval(() => {
          if (/recording processes named/.test(err)) {
            clearInterval(w);
            res();
          }
        }, 50);
        void exited.then(() => {
          clearInterval(w);
          rej(new Error(err));
        });
      });
      const from = server.conns.length;
      const r = await run(exe, ['-e', CLIENT_SRC, String(server.port), body, '1500']);
      t.equal(r.code, 0, r.stderr);
      await server.waitConns(from + 1);
      await new Promise((res) => setTimeout(res, 500));
      rec.kill('SIGINT');
      setTimeout(() => rec.kill('SIGKILL'), 30_000).unref();
      t.equal(await exited, 0, err.slice(-400));
      const events = parseNdjson(fs.readFileSync(out));
      const st = matchConn(streams(events.filter((e) => e.src === 'ssl')), server.conns[from]!);
      t.ok(st, `the first request captured whole (${err.split('\n').filter(Boolean).slice(-3).join(' | ')})`);
      t.equal(st?.pid, r.pid);
      t.ok(
        events.some((e) => e.src === 'proc' && e.type === 'exec' && e.pid === r.pid),
        'and the process, from its exec',
      );
    },
  );
}
