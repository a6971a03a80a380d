// What following exec costs other processes (root, real eBPF): an exec loop of /bin/true
// with no capture, with as-sslsniff following every program on the host, and with
// as-sslsniff -c NAME (other names leave at the filter); then the first exec of programs
// never seen before (fresh copies of /bin/true), each held while it is looked at.
// CPU is the exec'ing processes' own (bash `times`), so load elsewhere inflates it less.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { size } from './smoke.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SNIFF = path.join(ROOT, 'dist/tools/as-sslsniff.js');
const N = size('BENCH_EXECS', 2000, 50);
const NEW = size('BENCH_NEW_PROGRAMS', 40, 2);
const ROUNDS = size('BENCH_ROUNDS', 3, 1);

if (process.geteuid?.() !== 0) {
  console.log('skipped: needs root (loads eBPF programs)');
  process.exit(0);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'discoverbench-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const cpuOf = (line: string) =>
  [...line.matchAll(/(\d+)m([\d.]+)s/g)].reduce((a, m) => a + Number(m[1]) * 60 + Number(m[2]), 0);

/** Run a bash loop; wall and CPU (shell and children) per iteration, in microseconds. */
function loop(body: string, n: number): { wallUs: number; cpuUs: number } {
  const tf = path.join(tmp, 'time');
  const r = spawnSync(
    '/bin/bash',
    ['-c', `s=$(date +%s%N); ${body}; e=$(date +%s%N); echo $((e - s)) > ${tf}; times >> ${tf}`],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error(`workload exited ${r.status}`);
  const [ns, self, children] = fs.readFileSync(tf, 'utf8').trim().split('\n');
  return { wallUs: Number(ns) / 1e3 / n, cpuUs: ((cpuOf(self ?? '') + cpuOf(children ?? '')) * 1e6) / n };
}

async function sniffer(args: string[]): Promise<{ child: ChildProcess; stop(): Promise<string> }> {
  const child = spawn(process.execPath, [SNIFF, '-o', '/dev/null', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((res, rej) => {
    const w = setInterval(() => {
      if (/capturing:/.test(err)) {
        clearInterval(w);
        res();
      }
    }, 50);
    child.on('exit', (c) => {
      clearInterval(w);
      rej(new Error(`as-sslsniff exited ${c}: ${err}`));
    });
  });
  return {
    child,
    stop: () =>
      new Promise<string>((res) => {
        child.removeAllListeners('exit');
        child.on('exit', () => res(err));
        child.kill('SIGINT');
      }),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const configs: Array<{ name: string; args: string[] | null }> = [
  { name: 'no capture', args: null },
  { name: 'as-sslsniff (every program followed)', args: [] },
  { name: 'as-sslsniff -c claude', args: ['-c', 'claude'] },
];
/** Nanoseconds the exec hook itself ran, per run, from the kernel's BPF statistics. */
function hookNs(): { ns: number; runs: number } | null {
  const r = spawnSync('bpftool', ['-j', 'prog', 'show', 'name', 'tls_exec_watch'], { encoding: 'utf8' });
  try {
    const progs = ([] as Array<{ run_time_ns?: number; run_cnt?: number }>).concat(JSON.parse(r.stdout));
    const p = progs[progs.length - 1];
    return p?.run_cnt ? { ns: p.run_time_ns! / p.run_cnt, runs: p.run_cnt } : null;
  } catch {
    return null;
  }
}
const statsWas = fs.readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
fs.writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
process.on('exit', () => fs.writeFileSync('/proc/sys/kernel/bpf_stats_enabled', statsWas));
const hook = new Map<string, Array<{ ns: number; runs: number }>>();
const results = new Map<string, Array<{ wallUs: number; cpuUs: number }>>(configs.map((c) => [c.name, []]));
const body = `for ((i = 0; i < ${N}; i++)); do /bin/true; done`;
for (let r = 0; r < ROUNDS; r++) {
  for (const c of configs) {
    const s = c.args ? await sniffer(c.args) : null;
    results.get(c.name)!.push(loop(body, N));
    const h = s && hookNs();
    if (h) hook.set(c.name, [...(hook.get(c.name) ?? []), h]);
    await s?.stop();
  }
}
console.log(`exec of /bin/true, ${N} times, median of ${ROUNDS} rounds (per exec):`);
const base = median(results.get('no capture')!.map((x) => x.cpuUs));
for (const c of configs) {
  const xs = results.get(c.name)!;
  const cpu = median(xs.map((x) => x.cpuUs));
  const h = hook.get(c.name);
  console.log(
    `  ${c.name.padEnd(40)} wall ${median(xs.map((x) => x.wallUs))
      .toFixed(0)
      .padStart(
        5,
      )} us  cpu ${cpu.toFixed(0).padStart(5)} us  (${cpu >= base ? '+' : ''}${(cpu - base).toFixed(0)} us)${h ? `; the exec hook itself ${median(h.map((x) => x.ns)).toFixed(0)} ns a run` : ''}`,
  );
}

// Programs never seen: each first exec is reported, looked at and (no terminal) held.
const copies = Array.from({ length: NEW }, (_, i) => {
  const p = path.join(tmp, `new-${i}`);
  fs.copyFileSync('/bin/true', p);
  fs.chmodSync(p, 0o755);
  return p;
});
const before = loop(copies.join('; '), NEW);
for (const p of copies) {
  fs.rmSync(p);
  fs.copyFileSync('/bin/true', p);
  fs.chmodSync(p, 0o755);
}
const s = await sniffer([]);
const after = loop(copies.join('; '), NEW);
const err = await s.stop();
console.log(`first exec of a program never seen (${NEW} fresh copies of /bin/true, per exec):`);
console.log(
  `  no capture ${before.wallUs.toFixed(0)} us wall; followed ${after.wallUs.toFixed(0)} us wall (+${(after.wallUs - before.wallUs).toFixed(0)} us: reported, looked at, held meanwhile)`,
);
console.log(`  ${(/followed: .*/.exec(err) ?? ['(no summary)'])[0]}`);
