// `agentsight monitor`, as root with real eBPF: started first on an empty store directory,
// then agents it has never heard of (curl, a python script on the system libssl, the Claude
// Code native binary, Gemini CLI on node), each against its own mock LLM server: every model
// call the mock served is in the store, from the first. Then the monitor killed with SIGKILL
// in the middle of a python agent's calls and started again: nothing stored twice, the gap
// recorded, the agent (started before the second monitor) captured again after it. The
// systemd unit install-service writes passes systemd-analyze verify, and the monitor runs
// with the unit's capabilities and no others.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateEvent } from '@agentsight/events';
import { type MockLlm, type MockRequest, type Reply, startMockLlm } from '@agentsight/mock-llm';
import { unitText } from '@agentsight/monitor';
import { openStoreReadOnly } from '@agentsight/serve';
import t, { type Test } from 'tap';
import { type Agent, claudeCode, geminiCli, PYTHON, writeSettings } from './lib/agents.js';
import { type RunningMonitor, run, startMonitor, storeEvents, waitFor } from './lib/monitor.js';
import { runTool, toolPath } from './lib/run.js';
import { kernelSkipReason as procSkipReason } from './proc-harness.js';
import { kernelSkipReason } from './sslsniff-helpers.js';

const why =
  kernelSkipReason() ||
  procSkipReason(['proc.bpf.o']) ||
  (fs.existsSync(toolPath('agentsight')) ? null : `${toolPath('agentsight')} not built`);

/** A mock LLM server that answers every model call with text and logs what it served. */
async function mock(
  reply: (req: MockRequest) => Reply = () => ({ text: 'ok', usage: { input_tokens: 5, output_tokens: 1 } }),
) {
  const served: MockRequest[] = [];
  const m = await startMockLlm({
    script: (req) => {
      served.push(req);
      return reply(req);
    },
  });
  return { m, served };
}

const callsTo = (dir: string, m: MockLlm) =>
  storeEvents(dir, 'llm', 'call')
    .filter((c) => c.host === `127.0.0.1:${m.port}`)
    .sort((a, b) => a.timing.start - b.timing.start);

/** The user text of an Anthropic request body. */
const userText = (json: any) => JSON.stringify(json?.messages ?? json?.contents ?? []);

const CURL_BODY = (i: number) =>
  JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: `curl-${i}` }] });

// One request after another on one kept-alive connection (n of them, or until the file named
// by a fifth argument exists), each line of stdout when it was sent and answered:
// {"i":0,"t0":…,"t1":…} (ms since the epoch).
const PY_LOOP = `
import http.client, json, os, ssl, sys, time
host, port, n, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
stop = sys.argv[5] if len(sys.argv) > 5 else None
c = http.client.HTTPSConnection(host, port, context=ssl.create_default_context(), timeout=20)
for i in range(n):
    if stop and os.path.exists(stop):
        break
    body = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "py-%d" % i}]})
    t0 = time.time() * 1000
    c.request("POST", "/v1/messages", body, {"content-type": "application/json", "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"})
    r = c.getresponse(); r.read()
    print(json.dumps({"i": i, "t0": t0, "t1": time.time() * 1000, "status": r.status}), flush=True)
    time.sleep(gap)
`;

if (why) {
  t.test('agentsight monitor', { skip: `kernel test: ${why}` }, async () => {});
} else {
  const base = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'as-monitor-test-'));
  const dir = path.join(base, 'store');
  let mon: RunningMonitor;
  t.before(async () => {
    // The UI on a port of its own choosing (said on stderr).
    mon = startMonitor(dir, ['--port', '0', '--stats-interval', '1']);
    await mon.ready;
  });
  t.teardown(async () => {
    if (mon?.child.exitCode === null) await mon.stop('SIGKILL');
    fs.rmSync(base, { recursive: true, force: true });
  });

  t.test('the store: a 0700 directory, a 0600 database, the run started', async (t) => {
    t.equal(fs.statSync(dir).mode & 0o777, 0o700);
    t.equal(fs.statSync(path.join(dir, 'agentsight.db')).mode & 0o777, 0o600);
    const starts = storeEvents(dir, 'meta', 'run');
    t.equal(starts.length, 1);
    t.match(starts[0], {
      tool: 'agentsight monitor',
      run: /^[0-9a-z]+$/,
      host: os.hostname(),
      command: /^agentsight monitor/,
    });
    t.same(storeEvents(dir, 'meta', 'gap'), [], 'a new store: no gap');
  });

  t.test('curl started after the monitor: its first call and every other', async (t) => {
    const { m, served } = await mock();
    t.teardown(() => m.close());
    for (let i = 0; i < 3; i++) {
      // Not spawnSync: the mock answering it runs on this process's event loop.
      const r = await run(
        'curl',
        [
          '-sS',
          '--cacert',
          m.caPath,
          `${m.url}/v1/messages`,
          '-H',
          'content-type: application/json',
          '-H',
          'x-api-key: sk-ant-curl',
          '-H',
          'anthropic-version: 2023-06-01',
          '-d',
          CURL_BODY(i),
        ],
        process.env,
      );
      t.equal(r.code, 0, `curl ${i}: ${r.err}`);
    }
    const calls = await waitFor(() => (callsTo(dir, m).length >= served.length ? callsTo(dir, m) : null), 15_000);
    t.equal(calls?.length, served.length, `every call stored (${served.length} served)`);
    t.same(
      calls?.map((c) => c.request.messages[0].content),
      ['curl-0', 'curl-1', 'curl-2'],
      'each once, the first included',
    );
    t.ok(
      calls?.every((c) => c.comm === 'curl' && c.status === 200 && c.response.text === 'ok'),
      'from curl, answered',
    );
  });

  t.test('a python script on the system libssl, started after the monitor: every call from the first', async (t) => {
    const { m, served } = await mock();
    t.teardown(() => m.close());
    const r = await run(PYTHON, ['-c', PY_LOOP, '127.0.0.1', String(m.port), '4', '0.05'], {
      ...process.env,
      SSL_CERT_FILE: m.caPath,
    });
    t.equal(r.code, 0, r.err);
    const calls = await waitFor(() => (callsTo(dir, m).length >= served.length ? callsTo(dir, m) : null), 15_000);
    t.equal(calls?.length, 4, 'four calls stored');
    t.same(
      calls?.map((c) => c.request.messages[0].content),
      ['py-0', 'py-1', 'py-2', 'py-3'],
    );
    t.ok(
      calls?.every((c) => /^python/.test(c.comm)),
      'from python',
    );
  });

  /** Run a real agent (as the E2E tests launch it) against its own mock; its calls in the store. */
  async function agentRun(t: Test, agent: Agent) {
    const { m, served } = await mock(
      (req) => agent.aside?.(req) ?? { text: 'All done.', usage: { input_tokens: 50, output_tokens: 3 } },
    );
    t.teardown(() => m.close());
    const home = path.join(base, `${agent.name}-home`);
    const cwd = path.join(base, `${agent.name}-work`);
    fs.mkdirSync(home);
    fs.mkdirSync(cwd);
    const l = agent.launch({ mock: m, prompt: 'Say that you are done.', cwd, home });
    writeSettings(l);
    const [cmd, ...args] = l.cmd;
    const r = await run(cmd!, args, l.env, l.cwd);
    t.equal(r.code, 0, `${agent.name} exit 0: ${r.err.slice(-600)}`);
    t.ok(served.length >= 1, `${agent.name} made ${served.length} model calls`);
    const calls = await waitFor(() => (callsTo(dir, m).length >= served.length ? callsTo(dir, m) : null), 20_000);
    t.equal(calls?.length ?? callsTo(dir, m).length, served.length, 'every model call the mock served is stored');
    t.same(
      calls?.map((c) => userText(c.request)),
      served.map((s) => userText(s.json)),
      'the same calls in the same order, the first included',
    );
    t.ok(
      calls?.every((c) => c.status === 200 && !c.incomplete),
      'complete',
    );
    return calls ?? [];
  }

  const claude = claudeCode();
  t.test(
    'Claude Code (native binary: Bun, static BoringSSL), started after the monitor',
    { skip: claude.available() ?? false, timeout: 150_000 },
    async (t) => {
      const calls = await agentRun(t, claude);
      t.ok(
        calls.every((c) => c.api === 'anthropic.messages'),
        'Anthropic Messages',
      );
    },
  );

  const gemini = geminiCli();
  t.test(
    'Gemini CLI (node), started after the monitor',
    { skip: gemini.available() ?? false, timeout: 150_000 },
    async (t) => {
      const calls = await agentRun(t, gemini);
      t.ok(
        calls.every((c) => c.api === 'gemini'),
        'Gemini API',
      );
    },
  );

  t.test('what it stores is valid, its own stats included; report --store answers over it', async (t) => {
    const stats = await waitFor(() => storeEvents(dir, 'meta', 'stats').at(-1), 5000);
    t.match(stats, {
      tool: 'agentsight monitor',
      cpu_pct: Number,
      rss_kb: Number,
      lost_records: 0,
      store_bytes: Number,
    });
    t.ok(stats!.store_bytes > 0);
    const bad = storeEvents(dir)
      .map((e) => validateEvent(e))
      .filter(Boolean);
    t.same(bad.slice(0, 5), [], 'every stored event valid');
    const r = await runTool('agentsight', ['report', 'summary', '--json', '--store', dir], { timeoutMs: 60_000 });
    t.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout.toString());
    const all = storeEvents(dir, 'llm', 'call').length;
    t.equal(s.llm_calls, all, `report --store counts the ${all} stored calls`);
    const url = /web UI: (\S+)/.exec(mon.stderr())?.[1];
    t.ok(url, 'the UI is served while it runs');
    if (url) {
      const res = await fetch(`${url}api/calls`);
      t.equal(res.status, 200);
      t.match(await res.text(), /"comm":"curl"/, "the UI's API lists the calls from the store");
    }
    const bad2 = await runTool('agentsight', ['report', '--store', dir, 'cap.ndjson'], { timeoutMs: 30_000 });
    t.equal(bad2.code, 2, 'a capture file and --store: usage error');
  });

  t.test('kill -9 mid-stream, restart: nothing stored twice, the gap recorded, the agent captured again', async (t) => {
    const { m, served } = await mock();
    t.teardown(() => m.close());
    // Started while the first monitor runs, going on across its death and the second's start.
    const stopFile = path.join(base, 'py-stop');
    const py = run(PYTHON, ['-c', PY_LOOP, '127.0.0.1', String(m.port), '100000', '0.1', stopFile], {
      ...process.env,
      SSL_CERT_FILE: m.caPath,
    });
    await waitFor(() => callsTo(dir, m).length >= 5, 20_000);
    const before = callsTo(dir, m).length;
    t.ok(before >= 5, `the first monitor stored ${before} calls`);
    const killedAt = Date.now();
    await mon.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    mon = startMonitor(dir, ['--no-server', '--stats-interval', '1']);
    await mon.ready;
    const readyAt = Date.now();
    // Calls after the restart: a few seconds of them.
    await new Promise((r) => setTimeout(r, 3000));
    fs.writeFileSync(stopFile, '');
    const r = await py;
    t.equal(r.code, 0, r.err);
    const sent = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { i: number; t0: number; t1: number });
    const last = `py-${sent.at(-1)!.i}`;
    await waitFor(() => callsTo(dir, m).some((c) => c.request.messages[0].content === last), 15_000);
    await mon.stop('SIGTERM');
    const calls = callsTo(dir, m);
    const prompts = calls.map((c) => c.request.messages[0].content as string);
    t.equal(
      new Set(prompts).size,
      prompts.length,
      `no call stored twice (${prompts.length} stored of ${served.length})`,
    );
    const ids = storeEvents(dir, 'llm', 'call').map((c) => c.id);
    t.equal(new Set(ids).size, ids.length, 'call ids unique across the two runs (same process, same connection)');
    const gaps = storeEvents(dir, 'meta', 'gap');
    t.equal(gaps.length, 1, 'one gap');
    const g = gaps[0]!;
    t.equal(g.reason, 'crash');
    t.ok(g.from <= killedAt * 1000 && g.from > killedAt * 1000 - 5e6, 'from: the last event before the kill');
    t.ok(g.to > killedAt * 1000 && g.to <= readyAt * 1000, 'to: the restart');
    // Calls answered well before the kill and sent after the restart: each stored exactly once.
    const must = sent.filter((s) => s.t1 < g.from / 1000 - 1000 || s.t0 > readyAt + 200);
    const missing = must.filter((s) => !prompts.includes(`py-${s.i}`)).map((s) => s.i);
    t.same(missing, [], `every call outside the gap stored (${must.length})`);
    t.ok(
      must.some((s) => s.t0 > readyAt),
      'the agent started before the restart was captured again after it',
    );
    const lost = sent.length - prompts.length;
    t.comment(
      `${lost} calls around the kill not stored (in flight or during the ${((g.to - g.from) / 1e6).toFixed(1)} s gap)`,
    );
    t.same(storeEvents(dir, 'meta', 'run').length, 2, 'two runs');
    t.equal(storeEvents(dir, 'meta', 'stop').length, 1, 'one stopped cleanly');
    const db = openStoreReadOnly(path.join(dir, 'agentsight.db'));
    const rows = (db.prepare("SELECT count(*) n FROM calls WHERE id LIKE '%'").get() as { n: number }).n;
    db.close();
    t.equal(rows, ids.length, 'one calls row per stored call (none overwritten by another run)');
  });

  t.test('install-service: the unit passes systemd-analyze verify; uninstall removes it', async (t) => {
    const units = path.join(base, 'units');
    fs.mkdirSync(units);
    const r = await runTool('agentsight', ['monitor', 'install-service', '--unit-dir', units, '--max-size', '1G']);
    t.equal(r.code, 0, r.stderr);
    const file = path.join(units, 'agentsight.service');
    const unit = fs.readFileSync(file, 'utf8');
    t.match(
      unit,
      new RegExp(
        `^ExecStart=${process.execPath} ${fs.realpathSync(toolPath('agentsight'))} monitor --dir /var/lib/agentsight --max-size 1G --max-age 30d$`,
        'm',
      ),
    );
    const v = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 60_000 });
    if (v.error) t.fail(`systemd-analyze: ${v.error.message} (apt-get install systemd)`);
    else t.equal(v.status, 0, `systemd-analyze verify: ${v.stderr}${v.stdout}`);
    t.notMatch(v.stderr ?? '', /agentsight\.service/, 'nothing said about the unit');
    const u = await runTool('agentsight', ['monitor', 'uninstall-service', '--unit-dir', units]);
    t.equal(u.code, 0, u.stderr);
    t.notOk(fs.existsSync(file));
  });

  t.test(
    "with the unit's capabilities and no others: it runs and captures",
    { skip: spawnSync('setpriv', ['--version']).status === 0 ? false : 'setpriv missing (util-linux)' },
    async (t) => {
      const unit = unitText({ node: process.execPath, tool: toolPath('agentsight') });
      const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)![1]!.split(' ');
      const set = caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
      const d2 = path.join(base, 'capstore');
      const child = spawn(
        'setpriv',
        [
          `--bounding-set=-all,${set}`,
          '--',
          process.execPath,
          toolPath('agentsight'),
          'monitor',
          '--dir',
          d2,
          '--no-server',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
      });
      const exited = new Promise((r) => child.once('exit', r));
      t.teardown(() => child.kill('SIGKILL'));
      const ok = await waitFor(() => /monitoring every process/.test(err) || child.exitCode !== null, 60_000);
      t.ok(ok && child.exitCode === null, `started: ${err}`);
      const eff = fs
        .readFileSync(`/proc/${child.pid}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('CapEff:'));
      t.comment(`its effective capabilities: ${eff}`);
      const { m, served } = await mock();
      t.teardown(() => m.close());
      const r = await run(
        'curl',
        [
          '-sS',
          '--cacert',
          m.caPath,
          `${m.url}/v1/messages`,
          '-H',
          'content-type: application/json',
          '-d',
          CURL_BODY(9),
        ],
        process.env,
      );
      t.equal(r.code, 0, r.err);
      const calls = await waitFor(() => callsTo(d2, m).length >= served.length && callsTo(d2, m), 15_000);
      t.equal(calls ? calls.length : 0, 1, 'the call captured');
      child.kill('SIGTERM');
      t.equal(await exited, 0, `stopped cleanly: ${err.slice(-300)}`);
    },
  );
}
