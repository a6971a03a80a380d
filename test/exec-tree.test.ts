// agentsight exec follows the agent's whole process tree for TLS (root, real eBPF): model
// calls made from CHILD processes (a shell running the agent, a node launcher spawning a
// node that does the call, as Gemini CLI's relaunch does) are all captured, while an
// unrelated node process doing the same HTTPS calls to the same server at the same time is
// not. The filter is proc's kernel-maintained tracked set, shared with the TLS probes.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodePayload } from '@agentsight/events';
import { lastUserText, type MockLlm, startMockLlm } from '@agentsight/mock-llm';
import t from 'tap';
import { parseNdjson, ROOT, runTool } from './lib/run.js';

const AGENT = path.join(ROOT, 'dist/test/agents/sdk-agent.js');
const NOISE = 'UNRELATED-noise-call';

const skip =
  process.getuid?.() !== 0
    ? 'agentsight exec needs root (eBPF): NOT TESTED'
    : !fs.existsSync(AGENT)
      ? `${AGENT} not built: NOT TESTED`
      : false;

/** A node process outside the traced tree calling the same server over HTTPS, in a loop. */
function startNoise(mock: MockLlm): { stop: () => Promise<void> } {
  const loop = `while :; do "${process.execPath}" "${AGENT}" --base-url "${mock.url}" --max-turns 1 ${NOISE} >/dev/null 2>&1; done`;
  const c = spawn('/bin/sh', ['-c', loop], {
    stdio: 'ignore',
    detached: true,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath },
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.on('exit', () => resolve());
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          resolve();
        }
      }),
  };
}

const noiseCalls = (mock: MockLlm) =>
  mock.requests.filter((r) => r.api && lastUserText(r.api, r.json).includes(NOISE)).length;

t.test(
  'exec captures calls made by children and grandchildren, and nothing of an unrelated process',
  { skip, timeout: 150_000 },
  async (t) => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'as-exec-tree-'));
    t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
    // Default replies (no queue): the unrelated process cannot take a scripted reply meant for the agent.
    const mock = await startMockLlm({});
    t.teardown(() => mock.close());
    const noise = startNoise(mock);
    t.teardown(() => noise.stop());
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath };
    // Let the unrelated loop get going, so it overlaps the whole traced run.
    for (let i = 0; i < 100 && noiseCalls(mock) < 1; i++) await new Promise((r) => setTimeout(r, 100));
    t.ok(noiseCalls(mock) >= 1, 'the unrelated process is calling the server');

    const agent = (prompt: string) =>
      `"${process.execPath}" "${AGENT}" --base-url "${mock.url}" --max-turns 1 ${prompt}`;
    const cases: Array<{ name: string; argv: string[]; prompts: string[] }> = [
      {
        // `; exit $?` keeps the shell from exec'ing its last command: every call is from a child.
        name: 'sh -c running two agents one after the other',
        argv: ['/bin/sh', '-c', `${agent('tree-call-one')}; ${agent('tree-call-two')}; exit $?`],
        prompts: ['tree-call-one', 'tree-call-two'],
      },
      {
        name: 'a node launcher spawning a node child that makes the call (a relaunch)',
        argv: [
          process.execPath,
          '-e',
          `const r = require('child_process').spawnSync(process.execPath, [${JSON.stringify(AGENT)}, '--base-url', ${JSON.stringify(mock.url)}, '--max-turns', '1', 'tree-call-relaunched'], { stdio: 'inherit' }); process.exit(r.status ?? 1);`,
        ],
        prompts: ['tree-call-relaunched'],
      },
    ];
    for (const c of cases) {
      await t.test(c.name, async (t) => {
        const out = path.join(work, `${c.prompts[0]}.ndjson`);
        const before = noiseCalls(mock);
        const r = await runTool(
          'agentsight',
          ['exec', '--no-server', '--interval', '0', '--raw', '-o', out, '--', ...c.argv],
          { cwd: work, timeoutMs: 90_000, env },
        );
        const during = noiseCalls(mock) - before;
        t.equal(r.code, 0, `the agent's status (stderr: ${r.stderr.slice(-800)})`);
        const events = parseNdjson(fs.readFileSync(out));
        const calls = events.filter((e) => e.src === 'llm' && e.type === 'call');
        const asked = calls.map((e) => JSON.stringify(e.request?.messages ?? ''));
        for (const p of c.prompts)
          t.equal(asked.filter((m) => m.includes(p)).length, 1, `the call with "${p}" is captured once`);
        t.equal(calls.length, c.prompts.length, 'and nothing else');
        // The callers are children of the process exec started, not that process itself.
        const root = events.find((e) => e.src === 'proc' && e.type === 'exec' && e.argv?.[0] === c.argv[0]);
        t.ok(root, 'the started process is in the capture');
        t.ok(
          calls.every((e) => e.pid && e.pid !== root?.pid),
          `every call came from a descendant (pids ${calls.map((e) => e.pid).join(', ')}; root ${root?.pid})`,
        );
        t.ok(during >= 1, `the unrelated process made ${during} call(s) while exec was tracing`);
        t.notOk(
          asked.some((m) => m.includes(NOISE)),
          'none of its calls is in the capture',
        );
        const sslPids = new Set(events.filter((e) => e.src === 'ssl' && e.type === 'data').map((e) => e.pid));
        const procPids = new Set(
          events.filter((e) => e.src === 'proc' && (e.type === 'exec' || e.type === 'fork')).map((e) => e.pid),
        );
        t.ok(
          [...sslPids].every((p) => procPids.has(p)),
          `TLS data only from processes of the traced tree (${[...sslPids].join(', ')})`,
        );
        t.notOk(
          events.some(
            (e) =>
              e.src === 'ssl' &&
              e.type === 'data' &&
              decodePayload(e as never)
                .toString('latin1')
                .includes(NOISE),
          ),
          'no raw TLS bytes of the unrelated calls',
        );
      });
    }
  },
);

t.test(
  'record -p: calls made by children the process starts later are captured, others not',
  { skip, timeout: 120_000 },
  async (t) => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'as-record-tree-'));
    t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
    const mock = await startMockLlm({});
    t.teardown(() => mock.close());
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath };
    const noise = startNoise(mock);
    t.teardown(() => noise.stop());
    // Already running when record starts: a launcher that starts a new agent child every 200 ms.
    const stopFile = path.join(work, 'stop');
    const launcher = spawn(
      process.execPath,
      [
        '-e',
        `
    const { spawnSync } = require('child_process'); const fs = require('fs');
    while (!fs.existsSync(${JSON.stringify(stopFile)})) {
      spawnSync(process.execPath, [${JSON.stringify(AGENT)}, '--base-url', ${JSON.stringify(mock.url)}, '--max-turns', '1', 'record-child-call'], { stdio: 'ignore' });
      spawnSync('sleep', ['0.2']);
    }`,
      ],
      { stdio: 'ignore', env },
    );
    t.teardown(() => {
      fs.writeFileSync(stopFile, '');
      launcher.kill('SIGKILL');
    });
    const out = path.join(work, 'rec.ndjson');
    const rec = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist/tools/agentsight.js'),
        'record',
        '--no-server',
        '--interval',
        '0',
        '-p',
        String(launcher.pid),
        '-o',
        out,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env },
    );
    let err = '';
    rec.stderr!.on('data', (d) => {
      err += d;
    });
    const childCalls = () =>
      mock.requests.filter((r) => r.api && lastUserText(r.api, r.json).includes('record-child-call')).length;
    // Counted from when record says it is attached (a loaded machine can take seconds to get
    // there), then long enough to see a few calls, one more than asked of the capture in case one
    // was in flight at the attach; bounded either way, generously: this checks that children are
    // captured, not how fast they run.
    for (let i = 0; i < 600 && !/recording process/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    const n0 = childCalls();
    for (let i = 0; i < 400 && childCalls() < n0 + 4; i++) await new Promise((r) => setTimeout(r, 100));
    t.ok(childCalls() >= n0 + 4, "the launcher's children made calls while record ran");
    const code = await new Promise<number | null>((resolve) => {
      rec.on('exit', (c) => resolve(c));
      rec.kill('SIGINT');
      setTimeout(() => {
        rec.kill('SIGKILL');
      }, 30_000).unref();
    });
    t.equal(code, 0, `record stops cleanly on SIGINT (stderr: ${err.slice(-600)})`);
    const events = parseNdjson(fs.readFileSync(out));
    const calls = events.filter((e) => e.src === 'llm' && e.type === 'call');
    const asked = calls.map((e) => JSON.stringify(e.request?.messages ?? ''));
    t.ok(calls.length >= 3, `calls of children started after record began are captured (${calls.length})`);
    t.ok(
      asked.every((m) => m.includes('record-child-call')),
      "only the launcher's children's calls",
    );
    t.ok(
      calls.every((e) => e.pid !== launcher.pid),
      'made from children, not the launcher itself',
    );
  },
);
