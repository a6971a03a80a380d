// agentsight top as a person and a script use it: the terminal UI driven in tmux (keys sent
// with send-keys, the screen read with capture-pane), over a store being written (the serve
// Store, as the monitor writes it) and over a live capture of its own (root, real eBPF) of
// curl calling the mock LLM; --once --json checked against TOP_SCHEMA; --plain into head.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import { type MockLlm, startMockLlm } from '@agentsight/mock-llm';
import { Store } from '@agentsight/serve';
import { TOP_SCHEMA } from '@agentsight/top';
import AjvModule from 'ajv';
import t, { type Test } from 'tap';
import { ROOT, runCommand, toolPath, waitForOutput } from './lib/run.js';

const AGENTSIGHT = toolPath('agentsight');
const FIXTURE = path.join(ROOT, 'packages/top/fixtures/sdk-agent-run.ndjson');
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One tmux server of our own (its own socket), one window running `argv`. */
class Tmux {
  readonly socket = `as-top-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  readonly rcFile: string;

  constructor(
    readonly dir: string,
    argv: string[],
    size = { x: 180, y: 30 },
  ) {
    this.rcFile = path.join(dir, `rc-${this.socket}`);
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    // The exit status and the terminal's mode after it are written where the test reads them;
    // the pane then stays, so that its cursor can be asked about.
    const file = (what: string) => q(path.join(dir, `${what}-${this.socket}`));
    const cmd = `${argv.map(q).join(' ')} 2>${file('stderr')}; rc=$?; stty -a > ${file('stty')}; echo $rc > ${q(this.rcFile)}; sleep 120`;
    this.tmux('new-session', '-d', '-s', 'top', '-x', String(size.x), '-y', String(size.y), 'sh', '-c', cmd);
  }

  tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  screen(): string {
    try {
      return this.tmux('capture-pane', '-p', '-t', 'top');
    } catch {
      return '';
    }
  }

  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'top', ...keys);
  }

  /** Resolves with the screen once `test` holds for it; throws with the screen after `ms`. */
  async until(test: (screen: string) => boolean, ms: number, what: string): Promise<string> {
    const end = Date.now() + ms;
    let s = '';
    while (Date.now() < end) {
      s = this.screen();
      if (test(s)) return s;
      await sleep(25);
    }
    throw new Error(`${what}: not on screen after ${ms} ms:\n${s}\nstderr: ${this.stderr()}`);
  }

  #read(what: string): string {
    try {
      return fs.readFileSync(path.join(this.dir, `${what}-${this.socket}`), 'utf8');
    } catch {
      return '';
    }
  }

  stderr(): string {
    return this.#read('stderr');
  }

  /** After the command exited: is the terminal as a shell left it (line mode, echo, cursor shown)? */
  restored(t: Test): void {
    const stty = this.#read('stty');
    t.match(stty, /(^|\s)icanon(\s|;|$)/m, 'line mode back (not raw)');
    t.match(stty, /(^|\s)echo(\s|;|$)/m, 'echo back');
    t.equal(this.tmux('display', '-p', '-t', 'top', '#{cursor_flag}').trim(), '1', 'cursor shown');
  }

  /** The exit status of the command, once it has exited. */
  async exitStatus(ms: number): Promise<number | null> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (fs.existsSync(this.rcFile)) {
        const s = fs.readFileSync(this.rcFile, 'utf8').trim();
        if (s) return Number(s);
      }
      await sleep(50);
    }
    return null;
  }

  kill(): void {
    try {
      this.tmux('kill-server');
    } catch {
      /* gone */
    }
  }
}

/** The rows of the table on screen: lines under the header line that starts with `first`. */
function rowsOf(screen: string, header: RegExp): string[] {
  const lines = screen.split('\n');
  const h = lines.findIndex((l) => header.test(l));
  if (h < 0) return [];
  return lines.slice(h + 1, -1).filter((l) => /^\s*\S/.test(l) && !/\bq quit\b|^!/.test(l));
}

/** The recorded sdk-agent run, its times moved to now (so it falls in top's window). */
function recorded(): AgentEvent[] {
  const evs = fs
    .readFileSync(FIXTURE, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AgentEvent);
  const shift = Date.now() * 1000 - evs[evs.length - 1]!.ts - 5e6;
  return evs.map((e) => {
    const c = { ...e, ts: e.ts + shift } as any;
    if (c.timing) c.timing = { ...c.timing, start: c.timing.start + shift };
    return c as AgentEvent;
  });
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'as-top-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

t.test(
  'terminal UI over a store being written: rows from the first call, views, sorts, q',
  {
    skip: hasTmux ? false : 'tmux missing (make deps): NOT TESTED',
  },
  async (t) => {
    const db = path.join(work, 'agentsight.db');
    const store = new Store(db, { commitMs: 50 });
    t.teardown(() => store.close());
    const events = recorded();
    const firstCall = events.findIndex((e) => e.src === 'llm' && e.type === 'call');
    for (const ev of events.slice(0, firstCall)) store.insert(ev);
    store.commit();

    const tm = new Tmux(work, [process.execPath, AGENTSIGHT, 'top', '--store', db, '--interval', '1']);
    t.teardown(() => tm.kill());
    await tm.until((s) => /no agent yet/.test(s), 30_000, 'the empty agents view');
    t.match(tm.screen(), /store .*agentsight\.db/, 'says where it reads from');

    const at = Date.now();
    store.insert(events[firstCall]!);
    store.commit();
    const s1 = await tm.until((s) => /^\s*27859 sdk-agent\.js\s+claude-haiku-4-5\s+1\b/m.test(s), 2000, 'the agent');
    const ms = Date.now() - at;
    t.comment(`store: the agent's row showed ${ms} ms after its first call was stored`);
    t.ok(ms < 2000, `within 2 s (${ms} ms)`);
    t.match(s1, /agents 1 {2}processes 1 {2}calls 1/);

    for (const ev of events.slice(firstCall + 1)) store.insert(ev);
    store.commit();
    await tm.until((s) => /calls 3 {2}tools 2 {2}errors 1/.test(s), 3000, 'the whole run');

    tm.keys('p');
    let s = await tm.until((x) => /PPID/.test(x) && /processes by cpu/.test(x), 3000, 'the processes view');
    const names = (scr: string) => rowsOf(scr, /^\s*PID\s+PPID/).map((l) => l.trim().split(/\s+/)[3]);
    t.same(names(s).sort(), ['ls', 'sdk-agent.js', 'sh'], 'the agent and its tool processes');
    tm.keys('k');
    s = await tm.until((x) => /processes by calls/.test(x), 3000, 'sorted by calls');
    t.equal(names(s)[0], 'sdk-agent.js', 'the one that called first');
    tm.keys('s');
    s = await tm.until((x) => /processes by tools/.test(x), 3000, 's: the next sort key');
    tm.keys('<', '<');
    await tm.until((x) => /processes by tokens/.test(x), 3000, '<: back');
    tm.keys('r');
    s = await tm.until((x) => /\(reversed\)/.test(x), 3000, 'reversed');
    t.equal(names(s)[2], 'sdk-agent.js', 'reversed: the most tokens last');
    tm.keys('r');
    await tm.until((x) => /processes by tokens {2}/.test(x), 3000, 'r again: not reversed');

    tm.keys('f');
    s = await tm.until((x) => /^\s*AGENT\s+OPENS\s+WRITES/m.test(x), 3000, 'the files view');
    tm.keys('w');
    s = await tm.until((x) => /files by writes/.test(x), 3000, 'files by writes');
    const written = rowsOf(s, /^\s*AGENT\s+OPENS/)
      .slice(0, 3)
      .map((l) => l.split(/\s+/).pop())
      .sort();
    t.same(written, ['/dev/null', '/tmp/top-rec/NOTES.md', '/tmp/top-rec/out.txt'], 'the files written first');
    tm.keys('n');
    s = await tm.until((x) => /ENDPOINT/.test(x), 3000, 'the network view');
    t.match(rowsOf(s, /ENDPOINT/)[0], /^\s*27859\s+2\s+3\s+0\s+27859\s+\S+\s+127\.0\.0\.1:35993 127\.0\.0\.1/);
    tm.keys('m');
    s = await tm.until((x) => /PROVIDER/.test(x), 3000, 'the models view');
    t.match(rowsOf(s, /PROVIDER/)[0], /^claude-haiku-4-5\s+anthropic\s+3\s+2\s+1\s+2\.7k\s+70\s+\$0\.003\d\s+1\s/);
    tm.keys('Tab');
    await tm.until((x) => /agents by cost/.test(x), 3000, 'Tab: round to agents');
    tm.keys('x');
    tm.keys('q');
    t.equal(await tm.exitStatus(5000), 0, 'q: exit status 0');
    // Ink shows the cursor again on stderr as it exits; nothing else is said.
    t.equal(tm.stderr().replaceAll('\u001b[?25h', '').trim(), '', 'nothing on stderr');
    tm.restored(t);
  },
);

t.test(
  'SIGTERM: a clean exit with the terminal restored',
  {
    skip: hasTmux ? false : 'tmux missing (make deps): NOT TESTED',
  },
  async (t) => {
    const db = path.join(work, 'agentsight.db');
    const tm = new Tmux(work, [process.execPath, AGENTSIGHT, 'top', '--store', db]);
    t.teardown(() => tm.kill());
    await tm.until((s) => /agents by cost/.test(s), 30_000, 'the UI');
    const pane = Number(tm.tmux('list-panes', '-t', 'top', '-F', '#{pane_pid}').trim());
    // The pane runs sh, which runs top: signal top itself.
    const top = Number(
      execFileSync('pgrep', ['-P', String(pane)], { encoding: 'utf8' })
        .trim()
        .split('\n')[0],
    );
    process.kill(top, 'SIGTERM');
    t.equal(await tm.exitStatus(5000), 0, 'exit status 0');
    tm.restored(t);
  },
);

t.test('--once --json: one document, valid against TOP_SCHEMA', async (t) => {
  const db = path.join(work, 'agentsight.db');
  const r = await runCommand(process.execPath, [AGENTSIGHT, 'top', '--store', db, '--once', '--json'], {
    timeoutMs: 30_000,
  });
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.toString().trim().split('\n');
  t.equal(lines.length, 1, 'one document');
  const doc = JSON.parse(lines[0]!);
  const validate = new AjvModule.default({ allErrors: true }).compile(TOP_SCHEMA);
  t.ok(validate(doc), JSON.stringify(validate.errors));
  t.match(doc, {
    source: { kind: 'store', path: db },
    totals: { agents: 1, calls: 3, tool_calls: 2, errors: 1, input_tokens: 2700, output_tokens: 70 },
    agents: [{ pid: 27859, name: 'sdk-agent.js' }],
  });
  t.same(doc.processes.map((p: any) => p.pid).sort(), [27859, 27918, 27919]);
});

t.test('--once with stdout no terminal: plain text', async (t) => {
  const db = path.join(work, 'agentsight.db');
  const r = await runCommand(
    process.execPath,
    [AGENTSIGHT, 'top', '--store', db, '--once', '--view', 'models', '--sort', 'name'],
    { timeoutMs: 30_000 },
  );
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.toString().split('\n');
  t.match(lines[0], /^agentsight top .* store /);
  t.equal(lines[2], 'models by name');
  t.match(lines[3], /^MODEL +PROVIDER +CALLS/);
  t.match(lines[4], /^claude-haiku-4-5 +anthropic +3 +2 +1 /);
  t.equal(lines.length, 6, 'one snapshot, no UI');
});

t.test('--plain into head: the lines asked for, then a clean exit', async (t) => {
  const db = path.join(work, 'agentsight.db');
  const r = await runCommand(
    '/bin/bash',
    [
      '-c',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's ${PIPESTATUS[0]}, not a template
      'set -o pipefail; "$0" "$1" top --store "$2" --plain --interval 0.2 --view processes | head -n 12; echo "status ${PIPESTATUS[0]}"',
      process.execPath,
      AGENTSIGHT,
      db,
    ],
    { timeoutMs: 30_000 },
  );
  const out = r.stdout.toString().split('\n');
  t.equal(out[11 + 1], 'status 0', `top exited 0 when head closed the pipe (stderr: ${r.stderr})`);
  t.match(out[0], /^agentsight top /);
  t.match(out[3], /^\s+PID\s+PPID AGENT NAME/);
  t.equal(out.filter((l) => l.startsWith('agentsight top ')).length, 2, 'two snapshots in 12 lines');
  t.equal(r.stderr, '', 'no EPIPE noise');
});

t.test('usage errors', async (t) => {
  const r = await runCommand(process.execPath, [AGENTSIGHT, 'top', '--store', path.join(work, 'none.db')]);
  t.equal(r.code, 2);
  t.match(r.stderr, /--store .*none\.db: no such file/);
  const both = await runCommand(process.execPath, [
    AGENTSIGHT,
    'top',
    '--store',
    path.join(work, 'agentsight.db'),
    '-c',
    'x',
  ]);
  t.equal(both.code, 2);
  t.match(both.stderr, /not both/);
  const iv = await runCommand(process.execPath, [AGENTSIGHT, 'top', '--interval', '0']);
  t.equal(iv.code, 2);
});

// ------------------------------------------------------------------ live capture (root)

const rootSkip = process.getuid?.() !== 0 ? 'a capture of its own needs root (eBPF): NOT TESTED' : false;
const curl = spawnSync('sh', ['-c', 'command -v curl']).stdout?.toString().trim();

t.test(
  'terminal UI over a capture of its own: curl calling the mock LLM shows within 2 s',
  {
    skip: !hasTmux ? 'tmux missing: NOT TESTED' : rootSkip || (curl ? false : 'curl missing: NOT TESTED'),
  },
  async (t) => {
    // A name of its own, so that the row is this test's whatever else runs on the machine.
    const name = `tagent${process.pid % 100000}`;
    const agent = path.join(work, name);
    fs.copyFileSync(curl!, agent);
    fs.chmodSync(agent, 0o755);
    let calledAt = 0;
    let streamAt = 0;
    const mock: MockLlm = await startMockLlm({
      script: (req) => {
        if (req.stream) {
          streamAt = Date.now();
          // A long answer, streamed slowly: about 5 s from the first event to the last, the
          // first text after the 4 events that open a message (0.4 s).
          return { text: 'x'.repeat(640), chunkSize: 16, delayMs: 100, usage: { input_tokens: 5, output_tokens: 80 } };
        }
        calledAt ||= Date.now();
        return { text: 'hello from the mock', usage: { input_tokens: 321, output_tokens: 12 } };
      },
    });
    t.teardown(() => mock.close());

    const tm = new Tmux(work, [process.execPath, AGENTSIGHT, 'top', '-c', name, '--interval', '1']);
    t.teardown(() => tm.kill());
    // The UI is drawn once the capture is attached.
    await tm.until((s) => new RegExp(`live capture of ${name}`).test(s), 60_000, 'the UI, attached');

    const body = JSON.stringify({
      model: 'claude-haiku-4-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const started = Date.now();
    const r = await runCommand(agent, [
      '-sS',
      '--http1.1',
      '--cacert',
      mock.caPath,
      '-H',
      'content-type: application/json',
      '-H',
      'anthropic-version: 2023-06-01',
      '-H',
      'x-api-key: sk-ant-test',
      '--data',
      body,
      `${mock.url}/v1/messages`,
    ]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout.toString(), /hello from the mock/);
    const row = new RegExp(`^\\s*\\d+ ${name}\\s+claude-haiku-4-5\\s+1\\s`, 'm');
    const s = await tm.until((x) => row.test(x), 2000 + (Date.now() - calledAt), 'the agent row');
    const ms = Date.now() - calledAt;
    t.comment(
      `live: the agent's row showed ${ms} ms after its first call reached the mock (curl ran ${Date.now() - started} ms before)`,
    );
    t.ok(ms < 2000, `within 2 s of its first call (${ms} ms)`);
    t.match(s, /calls 1 .*tokens in 321 out 12/);
    tm.keys('n');
    const net = await tm.until((x) => /ENDPOINT/.test(x) && /127\.0\.0\.1:\d+/.test(x), 3000, 'its connection');
    t.match(net, new RegExp(`127\\.0\\.0\\.1:${new URL(mock.url).port}`));

    // A second agent whose first call streams for seconds: it shows while the call is under way.
    tm.keys('a');
    let done = false;
    const streamed = runCommand(agent, [
      '-sS',
      '--http1.1',
      '-N',
      '--cacert',
      mock.caPath,
      '-H',
      'content-type: application/json',
      '-H',
      'anthropic-version: 2023-06-01',
      '--data',
      JSON.stringify({ ...JSON.parse(body), stream: true }),
      `${mock.url}/v1/messages`,
    ]).finally(() => {
      done = true;
    });
    const under = await tm.until(
      (x) => rowsOf(x, /^\s*PID AGENT/).filter((l) => l.includes(name)).length === 2,
      15_000,
      'the second agent',
    );
    const sms = Date.now() - streamAt;
    t.comment(`live: a streaming first call showed its agent ${sms} ms after the request, before it ended: ${!done}`);
    t.notOk(done, 'while its call was still streaming');
    t.ok(sms < 2000, `within 2 s of its first call (${sms} ms)`);
    t.match(under, new RegExp(`^\\s*\\d+ ${name}\\s+-\\s+0\\s`, 'm'), 'no call counted yet');
    t.equal((await streamed).code, 0);
    await tm.until((x) => /calls 2 /.test(x), 5000, 'the streamed call counted when it ended');
    tm.keys('q');
    t.equal(await tm.exitStatus(30_000), 0, 'q: exit status 0 (the probes detached)');
    tm.restored(t);
  },
);

t.test(
  '--once --json over a capture of every process: curl started after top is in it',
  {
    skip: rootSkip || (curl ? false : 'curl missing: NOT TESTED'),
  },
  async (t) => {
    const name = `tevery${process.pid % 100000}`;
    const agent = path.join(work, name);
    fs.copyFileSync(curl!, agent);
    fs.chmodSync(agent, 0o755);
    const mock = await startMockLlm({ script: () => ({ text: 'hi', usage: { input_tokens: 40, output_tokens: 2 } }) });
    t.teardown(() => mock.close());
    const top = spawn(process.execPath, [AGENTSIGHT, 'top', '--once', '--json', '--interval', '4'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.teardown(() => top.kill('SIGKILL'));
    const out: Buffer[] = [];
    top.stdout!.on('data', (d: Buffer) => out.push(d));
    await waitForOutput(top.stderr!, /recording every process/, 60_000);
    const r = await runCommand(agent, [
      '-sS',
      '--http1.1',
      '--cacert',
      mock.caPath,
      '-H',
      'content-type: application/json',
      '--data',
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      `${mock.url}/v1/chat/completions`,
    ]);
    t.equal(r.code, 0, r.stderr);
    const code = await new Promise<number | null>((res) => top.on('exit', (c) => res(c)));
    t.equal(code, 0);
    const doc = JSON.parse(Buffer.concat(out).toString());
    t.ok(new AjvModule.default().compile(TOP_SCHEMA)(doc), 'valid');
    t.match(doc.source, { kind: 'live', comm: null });
    const row = doc.agents.find((a: any) => a.name === name);
    t.match(row, { calls: 1, input_tokens: 40, output_tokens: 2, model: 'gpt-4o-mini', state: 'exited' }, name);
    t.match(
      doc.network.find((n: any) => n.agent === row?.pid),
      { endpoint: `127.0.0.1:${new URL(mock.url).port}`, calls: 1 },
    );
    t.ok(doc.monitor && doc.monitor.rss_kb > 0, "top's own cost, as the capture's");
  },
);
