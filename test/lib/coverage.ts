// Per-package line coverage of the unit tier, against floors that only go up (`make coverage`).
// tap's json-summary lists only the files a test loaded; a package's source file no unit test
// loads counts as wholly uncovered (as c8 --all would), unless it compiles to no code (types only).
import fs from 'node:fs';
import path from 'node:path';

interface Counts {
  total: number;
  covered: number;
}
/** tap's `.tap/report/coverage-summary.json` (istanbul json-summary), by absolute source path. */
export type Summary = Record<string, { lines: Counts }>;
export type Floors = Record<string, number>;

export interface PackageCoverage {
  name: string;
  pct: number;
  unloaded: string[];
}

/** A compiled module with nothing but `export {};`, comments and its source map line. */
function hasCode(js: string): boolean {
  return (
    js
      .replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '')
      .replace(/export \{\};/g, '')
      .trim() !== ''
  );
}

/** Line coverage of each package under `root`/packages that compiles to dist/*.js. */
export function packageCoverage(root: string, summary: Summary): PackageCoverage[] {
  const out: PackageCoverage[] = [];
  for (const name of fs.readdirSync(path.join(root, 'packages')).sort()) {
    const src = path.join(root, 'packages', name, 'src');
    const dist = path.join(root, 'packages', name, 'dist');
    if (!fs.existsSync(src) || !fs.existsSync(dist)) continue;
    let total = 0;
    let covered = 0;
    const unloaded: string[] = [];
    for (const f of fs.readdirSync(src).sort()) {
      if (!f.endsWith('.ts') || f.endsWith('.d.ts') || /\.(test|bench)\.ts$/.test(f)) continue;
      const js = path.join(dist, f.replace(/\.ts$/, '.js'));
      if (!fs.existsSync(js)) continue;
      const s = summary[path.join(src, f)];
      if (s) {
        total += s.lines.total;
        covered += s.lines.covered;
      } else if (hasCode(fs.readFileSync(js, 'utf8'))) {
        total += fs.readFileSync(path.join(src, f), 'utf8').trimEnd().split('\n').length;
        unloaded.push(f);
      }
    }
    if (total) out.push({ name, pct: Math.round((1000 * covered) / total) / 10, unloaded });
  }
  return out;
}

/** Packages under their floor, as one line each; a package without a floor is one too. */
export function underFloors(cov: PackageCoverage[], floors: Floors): string[] {
  const bad: string[] = [];
  for (const c of cov) {
    const floor = floors[c.name];
    if (floor === undefined) bad.push(`${c.name}: ${c.pct}% has no floor (make coverage-update)`);
    else if (c.pct < floor) bad.push(`${c.name}: ${c.pct}% is under its floor of ${floor}%`);
  }
  return bad;
}

/** Floors raised to what is covered now (whole percents), never lowered. */
export function raiseFloors(cov: PackageCoverage[], floors: Floors): Floors {
  const next: Floors = { ...floors };
  for (const c of cov) next[c.name] = Math.max(floors[c.name] ?? 0, Math.floor(c.pct));
  return Object.fromEntries(Object.entries(next).sort(([a], [b]) => a.localeCompare(b)));
}
