// Every bench runs once, tiny (BENCH_SMOKE=1), so none rots between full `make bench` runs:
// each must finish and report figures. Their values are not checked (speed is make bench's).
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { ROOT } from './lib/run.js';

// Nine benches, some loading eBPF: minutes on a loaded 2-core machine, more than tap's default.
t.setTimeout(600_000);
const root = process.getuid?.() === 0;
const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
  const c = spawn(process.execPath, [path.join(ROOT, 'dist/test/bench/run.js')], {
    env: { ...process.env, BENCH_SMOKE: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  c.stdout.on('data', (d) => {
    stdout += d;
  });
  c.on('close', (code) => resolve({ code, stdout }));
});

const sections = out.stdout.split(/^=== (\S+) ===$/m).slice(1);
const names = sections.filter((_, i) => i % 2 === 0);
t.ok(names.length >= 8, `every bench ran (${names.join(', ')})`);
for (let i = 0; i < sections.length; i += 2) {
  const [name, report] = [sections[i]!, sections[i + 1]!.trim()];
  const skipped = /\bskipped\b/.test(report) ? report.split('\n').find((l) => /\bskipped\b/.test(l)) : undefined;
  t.test(name, { skip: skipped && !root ? `not root: ${skipped}` : false }, async (t) => {
    t.notMatch(report, /\(bench \S+ exited /, 'exits 0');
    t.match(report, /\d/, 'reports figures');
    t.notOk(skipped, 'runs whole as root');
  });
}
t.equal(out.code, 0, 'make bench in smoke mode exits 0');
