// `make bench`: run every test/bench/*.bench.js in turn and print their reports.
// Figures live here, never in timed unit tests. Each bench is a standalone script that
// prints a short report; a failing bench is reported and the others still run.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Benches live in test/bench/ (cross-tool) and beside a package's code (packages/X/dist/*.bench.js).
const dir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(dir, '../../..');
const only = process.argv.slice(2);
const found: string[] = fs.readdirSync(dir).filter((f) => f.endsWith('.bench.js')).map((f) => path.join(dir, f));
for (const pkg of fs.readdirSync(path.join(root, 'packages'))) {
  const d = path.join(root, 'packages', pkg, 'dist');
  if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) if (f.endsWith('.bench.js')) found.push(path.join(d, f));
}
const benches = found
  .filter((f) => only.length === 0 || only.some((o) => path.basename(f).startsWith(o)))
  .sort((a, b) => path.basename(a).localeCompare(path.basename(b)));
let failed = 0;
for (const f of benches) {
  process.stdout.write(`\n=== ${path.basename(f).replace(/\.bench\.js$/, '')} ===\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', f], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`(bench ${path.basename(f)} exited ${r.status ?? r.signal})\n`);
  }
}
process.exit(failed ? 1 : 0);
