// `make bench`: run every test/bench/*.bench.js in turn and print their reports.
// Figures live here, never in timed unit tests. Each bench is a standalone script that
// prints a short report; a failing bench is reported and the others still run.
// A full run (no bench named, not BENCH_SMOKE) also writes the reports into README.md between
// the bench markers: the README's figures are this output, never typed in by hand.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SMOKE } from './smoke.js';

// Benches live in test/bench/ (cross-tool) and beside a package's code (packages/X/dist/*.bench.js).
const dir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(dir, '../../..');
const only = process.argv.slice(2);
const found: string[] = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.bench.js'))
  .map((f) => path.join(dir, f));
for (const pkg of fs.readdirSync(path.join(root, 'packages'))) {
  const d = path.join(root, 'packages', pkg, 'dist');
  if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) if (f.endsWith('.bench.js')) found.push(path.join(d, f));
}
const benches = found
  .filter((f) => only.length === 0 || only.some((o) => path.basename(f).startsWith(o)))
  .sort((a, b) => path.basename(a).localeCompare(path.basename(b)));

/** Run one bench, its report shown as it comes and kept. */
function run(file: string): Promise<{ out: string; code: number | string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--expose-gc', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      out += d;
    });
    c.on('close', (code, signal) => resolve({ out, code: code ?? signal ?? 'unknown' }));
  });
}

const reports: Array<{ name: string; out: string }> = [];
let failed = 0;
for (const f of benches) {
  const name = path.basename(f).replace(/\.bench\.js$/, '');
  process.stdout.write(`\n=== ${name} ===\n`);
  const r = await run(f);
  let out = r.out;
  if (r.code !== 0) {
    failed++;
    const line = `(bench ${path.basename(f)} exited ${r.code})\n`;
    process.stdout.write(line);
    out += line;
  }
  reports.push({ name, out });
}

const BEGIN = '<!-- make bench: begin -->';
const END = '<!-- make bench: end -->';
if (!SMOKE && only.length === 0) {
  const readme = path.join(root, 'README.md');
  const text = fs.readFileSync(readme, 'utf8');
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  if (i < 0 || j < i) {
    process.stderr.write(`bench: ${readme} has no "${BEGIN}" ... "${END}" markers; figures not written\n`);
  } else {
    let commit = 'unknown';
    try {
      commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      /* not a git checkout */
    }
    const cpu = os.cpus();
    const head = `Written by \`make bench\` on ${new Date().toISOString().slice(0, 10)} at commit ${commit}: ${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, Linux ${os.release()}, Node ${process.version}.`;
    const body = reports.map((r) => `**${r.name}**\n\n\`\`\`\n${r.out.trim()}\n\`\`\``);
    fs.writeFileSync(readme, `${text.slice(0, i + BEGIN.length)}\n${[head, ...body].join('\n\n')}\n${text.slice(j)}`);
    process.stdout.write(`\nbench: figures written to README.md\n`);
  }
}
process.exit(failed ? 1 : 0);
