// `make coverage`: per-package line coverage of the unit tier against .coverage-floors.json.
// Exit 1 when a package is under its floor. With --update, floors rise to what is covered
// now and never fall: commit the file when they rose.
import fs from 'node:fs';
import path from 'node:path';
import { type Floors, packageCoverage, raiseFloors, type Summary, underFloors } from './lib/coverage.js';
import { ROOT } from './lib/run.js';

const SUMMARY = path.join(ROOT, '.tap/report/coverage-summary.json');
const FLOORS = path.join(ROOT, '.coverage-floors.json');

if (!fs.existsSync(SUMMARY)) {
  process.stderr.write(`coverage: ${SUMMARY} missing (make coverage runs the unit tests with coverage first)\n`);
  process.exit(1);
}
const summary = JSON.parse(fs.readFileSync(SUMMARY, 'utf8')) as Summary;
const floors = (fs.existsSync(FLOORS) ? JSON.parse(fs.readFileSync(FLOORS, 'utf8')) : {}) as Floors;
const cov = packageCoverage(ROOT, summary);

for (const c of cov) {
  const floor = floors[c.name];
  const never = c.unloaded.length ? `  (no unit test loads ${c.unloaded.join(', ')})` : '';
  process.stdout.write(`${c.name.padEnd(10)} ${c.pct.toFixed(1).padStart(5)}%  floor ${floor ?? '-'}%${never}\n`);
}
if (process.argv.includes('--update')) {
  fs.writeFileSync(FLOORS, `${JSON.stringify(raiseFloors(cov, floors), null, 2)}\n`);
  process.stdout.write(`coverage: floors written to ${path.relative(ROOT, FLOORS)}\n`);
} else {
  const bad = underFloors(cov, floors);
  for (const line of bad) process.stderr.write(`coverage: ${line}\n`);
  process.exitCode = bad.length ? 1 : 0;
}
