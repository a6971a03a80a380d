// Agents in containers, with real namespaces (root, real eBPF): a rootfs built here from the
// host's curl and its libraries (its own libssl copy: another inode than the host's), run
// under `unshare --mount --pid --fork` + `chroot` in a cgroup v2 named like a podman
// container's. curl inside calls the mock LLM; it is captured by `agentsight exec`, by
// `record -p`, and by `record cgroup:///…` started before the agent, with the container's id
// on its proc exec events; and by `agentsight monitor`, started before the container, into its store.
// The same rootfs under `podman run --rootfs` (runc): curl and a node Anthropic SDK agent, by
// record podman://NAME and by the monitor.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cgroupV2Root } from '@agentsight/container';
import { startMockLlm } from '@agentsight/mock-llm';
import t, { type Test } from 'tap';
import { type RunningMonitor, startMonitor, storeEvents, waitFor } from './lib/monitor.js';
import { parseNdjson, ROOT, runTool, startTool, waitForOutput } from './lib/run.js';

const skip = process.getuid?.() !== 0 ? 'container tests need root (namespaces, cgroups, eBPF): NOT TESTED' : false;

/** A root filesystem with these programs and the libraries ldd names for them, copied (not linked). */
function buildRootfs(dir: string, programs: string[]): void {
  const copy = (from: string, to = from) => {
    const dest = path.join(dir, to);
    if (fs.existsSync(dest)) return;
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.copyFileSync(from, dest);
    fs.chmodSync(dest, fs.statSync(from).mode & 0o777);
  };
  for (const p of programs) {
    copy(p);
    for (const line of execFileSync('ldd', [p], { encoding: 'utf8' }).split('\n')) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (m) copy(m[1]!);
    }
  }
}

/** Bound into the podman container: the SDK agent's packages. */
const NODE_MODULES = path.join(ROOT, 'node_modules');

const CONTAINER_ID = crypto.randomBytes(32).toString('hex');
const CGROUP = `/machine.slice/libpod-${CONTAINER_ID}.scope`;

t.test('agents in a container (unshare + chroot, cgroup named like podman)', { skip }, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'as-container-'));
  const rootfs = path.join(work, 'rootfs');
  // node: the SDK agent's runtime, its own copy (OpenSSL linked in: another file to hook).
  buildRootfs(rootfs, ['/usr/bin/curl', '/bin/sh', '/bin/sleep', fs.realpathSync(process.execPath)]);
  fs.mkdirSync(path.join(rootfs, 'app'));
  fs.writeFileSync(
    path.join(rootfs, 'app/agent.mjs'),
    [
      "import Anthropic from '@anthropic-ai/sdk';",
      "const c = new Anthropic({ baseURL: process.argv[2], apiKey: 'sk-ant-e2e' });",
      "const r = await c.messages.create({ model: 'claude-mock', max_tokens: 50, messages: [{ role: 'user', content: process.argv[3] }] });",
      'console.log(r.content[0].text);',
    ].join('\n'),
  );
  const mock = await startMockLlm({ script: () => ({ text: 'hello from the mock' }) });
  fs.copyFileSync(mock.caPath, path.join(rootfs, 'ca.pem'));
  const cgDir = path.join(cgroupV2Root(), CGROUP);
  fs.mkdirSync(cgDir, { recursive: true });
  const children: ChildProcess[] = [];
  t.teardown(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      // Whatever still runs in the container (a waiting agent whose test failed): all of it.
      fs.writeFileSync(path.join(cgDir, 'cgroup.kill'), '1');
    } catch {
      /* no cgroup.kill before Linux 5.14: the children above were the roots */
    }
    await mock.close();
    for (let i = 0; i < 50; i++) {
      try {
        fs.rmdirSync(cgDir);
        fs.rmdirSync(path.dirname(cgDir));
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  const curl = (tag: string) =>
    `/usr/bin/curl --http1.1 -sS --cacert /ca.pem -H 'content-type: application/json' ` +
    `-d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"${tag}"}]}' ${mock.url}/v1/chat/completions`;
  /** The host side: join the cgroup, then the namespaces and the root; $INNER runs in there. */
  const enter = () => [
    '/bin/sh',
    '-c',
    `echo $$ > ${cgDir}/cgroup.procs && exec unshare --mount --pid --fork chroot ${rootfs} /bin/sh -c "$INNER"`,
  ];
  /** A container whose agent waits for ROOTFS/go, then calls the mock and writes /done. */
  const waiting = (tag: string, env: NodeJS.ProcessEnv = {}) => {
    for (const f of ['go', 'done']) fs.rmSync(path.join(rootfs, f), { force: true });
    const [cmd, ...args] = enter();
    const c = spawn(cmd!, args, {
      env: {
        ...process.env,
        ...env,
        INNER: `while [ ! -e /go ]; do /bin/sleep 0.05; done; ${curl(tag)} > /out; : > /done`,
      },
      stdio: 'ignore',
    });
    children.push(c);
    return c;
  };
  const until = async (cond: () => boolean, what: string, ms = 20000) => {
    for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (cond()) return;
    throw new Error(`timed out waiting for ${what}`);
  };
  const exited = (c: ChildProcess) =>
    new Promise<number | null>((r) => {
      if (c.exitCode !== null || c.signalCode !== null) r(c.exitCode);
      else c.once('exit', (code) => r(code));
    });
  const inCgroup = () => fs.readFileSync(path.join(cgDir, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean);

  /** `agentsight record ARGS` into DIR/TAG.ndjson, once it says it is recording. */
  async function startRecord(args: string[], tag: string) {
    const out = path.join(work, `${tag}.ndjson`);
    const rec = startTool('agentsight', ['record', ...args, '--no-server', '--interval', '0', '-o', out]);
    children.push(rec);
    let stderr = '';
    rec.stderr!.on('data', (d) => {
      stderr += d;
    });
    await waitForOutput(rec.stderr!, /recording /, 30000);
    const result = (code: number | null) => ({
      code,
      stderr,
      events: fs.existsSync(out) ? parseNdjson(fs.readFileSync(out)) : [],
    });
    return {
      stderr: () => stderr,
      /** Its exit code and what it wrote, once it ended on its own (its target gone). */
      ended: async () => result(await exited(rec)),
      /** Ctrl-C (unless it ended on its own), then its exit code and what it wrote. */
      async stop() {
        const code = await new Promise<number | null>((r) => {
          if (rec.exitCode !== null) r(rec.exitCode);
          else {
            rec.once('exit', (code) => r(code));
            setTimeout(() => rec.kill('SIGINT'), 500);
          }
        });
        return result(code);
      },
    };
  }

  /** Let the waiting agent go, and wait for its /done. */
  const go = async (stderr: () => string) => {
    fs.writeFileSync(path.join(rootfs, 'go'), '');
    await until(() => fs.existsSync(path.join(rootfs, 'done')), `the agent's call (${stderr().slice(-500)})`);
  };

  /**
   * The monitor's store once `n` calls naming `needle` are in it, then stopped: those calls and
   * the execs of `cgroup` (the host's other programs are stored too).
   */
  async function fromMonitor(t: Test, mon: RunningMonitor, dir: string, needle: string, n: number, cgroup: string) {
    const calls = await waitFor(() => {
      const cs = storeEvents(dir, 'llm', 'call').filter((e) => JSON.stringify(e.request).includes(needle));
      return cs.length >= n ? cs : null;
    }, 15_000);
    const stderr = mon.stderr();
    t.equal(await mon.stop(), 0, 'the monitor stops cleanly');
    const execs = storeEvents(dir, 'proc', 'exec').filter((e) => e.cgroup === cgroup);
    return { events: [...execs, ...(calls ?? [])], stderr };
  }

  /** record TARGET… until the container's agent has called the mock. */
  async function recordWhile(args: string[], tag: string) {
    const c = waiting(tag);
    await until(() => inCgroup().length >= 2, 'the container to start');
    const rec = await startRecord(args, tag);
    await go(rec.stderr);
    await exited(c);
    return rec.stop();
  }

  function checkCaptured(
    t: Test,
    r: { events: Array<Record<string, any>>; stderr: string },
    tag: string,
    requestsBefore: number,
    want: { id: string; cgroup: string; ino?: number; comm?: string; requests?: number } = {
      id: CONTAINER_ID,
      cgroup: CGROUP,
    },
  ) {
    t.equal(mock.requests.length, requestsBefore + (want.requests ?? 1), 'the agents reached the mock');
    const calls = r.events.filter(
      (e) => e.src === 'llm' && e.type === 'call' && JSON.stringify(e.request).includes(tag),
    );
    t.equal(calls.length, 1, `one llm/call captured from inside (stderr: ${r.stderr.slice(-800)})`);
    t.match(JSON.stringify(calls[0]?.request), new RegExp(tag), "the container's request");
    t.equal(calls[0]?.response?.text, 'hello from the mock');
    const comm = want.comm ?? 'curl';
    const exec = r.events.find((e) => e.src === 'proc' && e.type === 'exec' && e.comm === comm);
    t.ok(exec, `${comm} exec event`);
    t.equal(calls[0]?.pid, exec?.pid, `the call is ${comm}'s`);
    t.same(exec?.container && { id: exec.container.id, runtime: exec.container.runtime }, {
      id: want.id,
      runtime: 'podman',
    });
    t.equal(exec?.cgroup, want.cgroup);
    t.equal(
      exec?.cgroup_id,
      want.ino ?? fs.statSync(path.join(cgroupV2Root(), want.cgroup)).ino,
      'the cgroup id BPF sees',
    );
    t.ok(exec?.ns_pid > 0 && exec?.ns_pid !== exec?.pid, `pid as the container sees it: ${exec?.ns_pid}`);
  }

  t.test('record cgroup:///PATH, started before the agent', async (t) => {
    const before = mock.requests.length;
    const r = await recordWhile([`cgroup://${CGROUP}`], 'via-cgroup-target');
    t.equal(r.code, 0, r.stderr.slice(-500));
    t.match(r.stderr, new RegExp(`every process in cgroup ${CGROUP.replace(/\./g, '\\.')}`));
    checkCaptured(t, r, 'via-cgroup-target', before);
    // The container's copy, through /proc/PID/root (the host's libssl is hooked at start, for no one process).
    const attach = r.events.filter(
      (e) => e.src === 'ssl' && e.type === 'attach' && /^\/proc\/\d+\/root\/.*libssl/.test(e.path),
    );
    t.ok(attach.length, "the container's libssl was hooked");
    t.ok(
      attach.every((e) => e.container?.id === CONTAINER_ID),
      'its attach events carry the container',
    );
    t.notOk(
      r.events.some((e) => e.src === 'proc' && e.type === 'exec' && e.pid === process.pid),
      'nothing from outside the cgroup',
    );
  });

  t.test('record -p: the container init and its descendants', async (t) => {
    const before = mock.requests.length;
    const c2 = waiting('via-pid');
    await until(() => inCgroup().length >= 2, 'the container to start');
    const rec = await startRecord(['-p', String(c2.pid)], 'pid');
    await go(rec.stderr);
    const r = await rec.ended();
    t.equal(r.code, 0, r.stderr.slice(-500));
    checkCaptured(t, r, 'via-pid', before);
  });

  t.test('agentsight exec -- unshare … chroot ROOTFS curl', async (t) => {
    const before = mock.requests.length;
    const out = path.join(work, 'exec.ndjson');
    const r = await runTool('agentsight', ['exec', '--no-server', '--interval', '0', '-o', out, '--', ...enter()], {
      env: { ...process.env, INNER: `${curl('via-exec')} > /out` },
      timeoutMs: 90_000,
    });
    t.equal(r.code, 0, r.stderr.slice(-800));
    const events = fs.existsSync(out) ? parseNdjson(fs.readFileSync(out)) : [];
    checkCaptured(t, { events, stderr: r.stderr }, 'via-exec', before);
  });

  t.test('agentsight monitor, started before the container: its agent from the first call', async (t) => {
    const before = mock.requests.length;
    const dir = path.join(work, 'monitor');
    const mon = startMonitor(dir, ['--no-server']);
    children.push(mon.child);
    await mon.ready;
    const c = waiting('via-monitor');
    await until(() => inCgroup().length >= 2, 'the container to start');
    await go(mon.stderr);
    await exited(c);
    checkCaptured(t, await fromMonitor(t, mon, dir, 'via-monitor', 1, CGROUP), 'via-monitor', before);
  });

  t.test('podman run --rootfs: record podman://NAME and the monitor, both started before the agent', async (t) => {
    const why = ['podman', 'runc'].find((p) => !fs.existsSync(`/usr/bin/${p}`));
    if (why) {
      t.fail(`NOT TESTED: /usr/bin/${why} missing (make deps installs podman and runc)`);
      return;
    }
    const before = mock.requests.length;
    const dir = path.join(work, 'monitor-podman');
    const mon = startMonitor(dir, ['--no-server']);
    children.push(mon.child);
    await mon.ready;
    for (const f of ['go', 'done']) fs.rmSync(path.join(rootfs, f), { force: true });
    const name = `as-e2e-${process.pid}`;
    const tag = 'via-podman-curl';
    const sdkTag = 'via-podman-sdk';
    const node = (q: string) => `${fs.realpathSync(process.execPath)} /app/agent.mjs ${mock.url} ${q}`;
    // runc and cgroupfs: this host mounts cgroups v1 and v2 side by side, which crun refuses;
    // limits equal to ours: raising them needs CAP_SYS_RESOURCE, which this sandbox lacks.
    const c = spawn(
      'podman',
      [
        ...['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', 'run', '--rm', '--name', name, '--network', 'host'],
        ...['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'],
        ...['-e', 'NODE_EXTRA_CA_CERTS=/ca.pem', '-v', `${NODE_MODULES}:/app/node_modules:ro`],
        // --rootfs is a switch: the root filesystem is the first argument, where an image would be.
        ...['--rootfs', rootfs],
        ...[
          '/bin/sh',
          '-c',
          `while [ ! -e /go ]; do /bin/sleep 0.05; done; ${curl(tag)} > /out; ${node(sdkTag)} > /out2; : > /done`,
        ],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(c);
    let podErr = '';
    c.stderr!.on('data', (d) => {
      podErr += d;
    });
    t.teardown(() => {
      spawn('podman', ['rm', '-f', name], { stdio: 'ignore' });
    });
    const inspect = (fmt: string) =>
      execFileSync('podman', ['inspect', '-f', fmt, name], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    await until(
      () => {
        try {
          return Number(inspect('{{.State.Pid}}')) > 0;
        } catch {
          return false;
        }
      },
      `the podman container to start (${podErr}; monitor: ${mon.stderr().slice(-1500)})`,
    );
    const id = inspect('{{.Id}}');
    const cgroup = fs
      .readFileSync(`/proc/${inspect('{{.State.Pid}}')}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'))!
      .slice(3);
    // Read now: podman removes the cgroup when the container exits.
    const ino = fs.statSync(path.join(cgroupV2Root(), cgroup)).ino;
    const rec = await startRecord([`podman://${name}`], 'podman');
    await go(rec.stderr);
    t.equal(await exited(c), 0, `podman run exits 0 (${podErr.slice(-300)})`);
    const recorded = await rec.stop();
    t.equal(recorded.code, 0, recorded.stderr.slice(-500));
    const want = { id, cgroup, ino, requests: 2 };
    checkCaptured(t, recorded, tag, before, want);
    t.comment('the node SDK agent');
    checkCaptured(t, recorded, sdkTag, before, { ...want, comm: 'node' });
    t.comment("the same calls, from the monitor's store");
    const stored = await fromMonitor(t, mon, dir, 'via-podman', 2, cgroup);
    checkCaptured(t, stored, tag, before, want);
    checkCaptured(t, stored, sdkTag, before, { ...want, comm: 'node' });
  });

  t.test('a target that names nothing: exit 2, nothing recorded', async (t) => {
    const out = path.join(work, 'none.ndjson');
    for (const target of ['cgroup:///machine.slice/libpod-nope.scope', 'k8s://agents/nope']) {
      const r = await runTool('agentsight', ['record', target, '--no-server', '-o', out], { timeoutMs: 30000 });
      t.equal(r.code, 2, `${target}: ${r.stderr.trim()}`);
      t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      t.notOk(fs.existsSync(out), 'no capture written');
    }
  });
});
