// as-sslsniff on rustls over aws-lc (root, real uprobes): Codex (the pinned release, the
// native binary) makes one call to the mock LLM over HTTPS, whose streamed answer is large
// (SSE events of 8 KiB: one TLS record each), once untraced and once under as-sslsniff
// --binary-path codex (events read from its stdout pipe and discarded). Reported: Codex's
// wall time both ways (its slowdown under the AEAD probes), the bytes captured against the
// bytes the kernel side saw, loss, and the tool's CPU per ring record: the figures to set
// next to the OpenSSL ones of the sslsniff bench.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMockLlm } from '@agentsight/mock-llm';
import { size as sized } from './smoke.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SNIFF = path.join(ROOT, 'dist/tools/as-sslsniff.js');
const CODEX = path.join(
  ROOT,
  '.cache/agents/codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex',
);
const VERSION = (() => {
  try {
    const p = path.join(ROOT, '.cache/agents/codex/node_modules/@openai/codex/package.json');
    return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
})();
const MIB = sized('BENCH_RUSTLS_MIB', 4, 0.25);
const ROUNDS = sized('BENCH_RUSTLS_ROUNDS', 3, 1);
const IDLE_MS = sized('BENCH_RUSTLS_IDLE_MS', 5000, 500);

if (process.getuid?.() !== 0 || !fs.existsSync(path.join(ROOT, 'bpf/sslsniff.bpf.o'))) {
  console.log('skipped: needs root and a built bpf/sslsniff.bpf.o (make build)');
  process.exit(0);
}
if (!fs.existsSync(CODEX)) {
  console.log(`skipped: ${CODEX} missing (make agents)`);
  process.exit(0);
}

const text = 'All work and no play makes a dull boy. '
  .repeat(Math.ceil((MIB * (1 << 20)) / 39))
  .slice(0, MIB * (1 << 20));
const mock = await startMockLlm({
  script: () => ({ text, chunkSize: 8192, usage: { input_tokens: 10, output_tokens: 10 } }),
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rustls-bench-'));
fs.mkdirSync(path.join(dir, 'home/.codex'), { recursive: true });
fs.mkdirSync(path.join(dir, 'work'));
fs.writeFileSync(
  path.join(dir, 'home/.codex/config.toml'),
  [
    'model_provider = "mock"',
    'model = "gpt-5-codex"',
    '[model_providers.mock]',
    'name = "mock"',
    `base_url = "${mock.url}/v1"`,
    'env_key = "MOCK_API_KEY"',
    'wire_api = "responses"',
    'request_max_retries = 0',
    'stream_max_retries = 0',
    '',
  ].join('\n'),
);

/** One `codex exec` to the end: its wall time (s). */
function codexOnce(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(
      CODEX,
      ['exec', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '-m', 'gpt-5-codex', 'bench'],
      {
        cwd: path.join(dir, 'work'),
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: path.join(dir, 'home'),
          CODEX_HOME: path.join(dir, 'home/.codex'),
          CODEX_CA_CERTIFICATE: mock.caPath,
          MOCK_API_KEY: 'sk-bench',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    c.stderr!.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => c.kill('SIGKILL'), 120_000);
    c.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve((performance.now() - t0) / 1000);
      else reject(new Error(`codex exited ${code}: ${err.slice(-500)}`));
    });
  });
}

function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}
const HZ = 100;

async function traced(): Promise<{ secs: number; cpuSecs: number; summary: string }> {
  const c: ChildProcess = spawn(process.execPath, [SNIFF, '--binary-path', CODEX], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  c.stdout!.on('data', () => {});
  let err = '';
  c.stderr!.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((res, rej) => {
    const iv = setInterval(() => {
      if (/capturing:/.test(err)) {
        clearInterval(iv);
        res();
      }
    }, 50);
    c.on('close', (code) => {
      clearInterval(iv);
      rej(new Error(`as-sslsniff exited ${code}: ${err}`));
    });
  });
  // The reader's own polling costs a little CPU while nothing happens: measured first, and
  // taken off what the run cost, so that what remains is the records' cost.
  const i0 = cpuTicks(c.pid!);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idlePerSec = (cpuTicks(c.pid!) - i0) / HZ / (IDLE_MS / 1000);
  const t0 = cpuTicks(c.pid!);
  const w0 = performance.now();
  const secs = await codexOnce();
  await new Promise((r) => setTimeout(r, 500));
  const t1 = cpuTicks(c.pid!);
  const wall = (performance.now() - w0) / 1000;
  const closed = new Promise((r) => c.on('close', r));
  c.kill('SIGINT');
  await closed;
  return {
    secs,
    cpuSecs: Math.max(0, (t1 - t0) / HZ - idlePerSec * wall),
    summary: err.split('\n').find((l) => /calls,/.test(l)) ?? err,
  };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
try {
  await codexOnce(); // warm: caches, page cache
  const plain: number[] = [];
  const runs: Array<Awaited<ReturnType<typeof traced>>> = [];
  for (let i = 0; i < ROUNDS; i++) {
    plain.push(await codexOnce());
    runs.push(await traced());
  }
  const m = (s: string) =>
    /(\d+) calls, ([\d.]+) MiB captured \(([\d.]+)% of ([\d.]+) MiB seen\) in (\d+) records/.exec(s);
  const last = runs.at(-1)!;
  const p = m(last.summary);
  const records = runs.map((r) => Number(m(r.summary)?.[5] ?? 0));
  const cpuPerRecord = runs.map((r, i) => (records[i] ? (r.cpuSecs / records[i]!) * 1e6 : 0));
  const lost = /LOST (\d+) records/.exec(last.summary)?.[1] ?? '0';
  console.log(
    `Codex ${VERSION} (rustls over aws-lc), one call answered with ${MIB} MiB in 8 KiB SSE events, medians of ${ROUNDS}`,
  );
  console.log(
    'untraced s  traced s  slowdown  captured                 lost records  tool CPU per record (idle polling taken off)',
  );
  const u = median(plain);
  const tr = median(runs.map((r) => r.secs));
  console.log(
    `${u.toFixed(2).padStart(10)}  ${tr.toFixed(2).padStart(8)}  ${`${(((tr - u) / u) * 100).toFixed(0)}%`.padStart(8)}  ${`${p?.[2] ?? '?'} of ${p?.[4] ?? '?'} MiB (${p?.[3] ?? '?'}%)`.padEnd(23)}  ${lost.padStart(12)}  ${median(cpuPerRecord).toFixed(1)} us (${median(records)} records)`,
  );
} finally {
  await mock.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
