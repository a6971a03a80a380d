// The coverage floors check: files no test loads count as uncovered, floors only rise.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { packageCoverage, raiseFloors, underFloors } from './lib/coverage.js';

function tree(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cov-'));
  const put = (f: string, s: string) => {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), s);
  };
  put('packages/a/src/loaded.ts', 'x\n'.repeat(10));
  put('packages/a/dist/loaded.js', 'export const x = 1;\n');
  put('packages/a/src/never.ts', 'y\n'.repeat(10));
  put('packages/a/dist/never.js', 'export const y = 1;\n//# sourceMappingURL=never.js.map\n');
  put('packages/a/src/types.ts', 'export interface T { a: number }\n');
  put('packages/a/dist/types.js', 'export {};\n//# sourceMappingURL=types.js.map\n');
  put('packages/a/src/a.test.ts', 'test\n');
  put('packages/a/dist/a.test.js', 'test();\n');
  put('packages/ui/src/app.ts', 'bundled elsewhere\n');
  return root;
}

t.test('a source file no test loads counts as uncovered; type-only files and tests do not count', async (t) => {
  const root = tree();
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const summary = { [path.join(root, 'packages/a/src/loaded.ts')]: { lines: { total: 10, covered: 8 } } };
  t.same(packageCoverage(root, summary), [{ name: 'a', pct: 40, unloaded: ['never.ts'] }]);
});

t.test('under a floor, or without one, fails; floors rise and never fall', async (t) => {
  const cov = [
    { name: 'a', pct: 40, unloaded: [] },
    { name: 'b', pct: 77.9, unloaded: [] },
  ];
  t.same(underFloors(cov, { a: 40, b: 77 }), []);
  t.same(underFloors(cov, { a: 41, b: 77 }), ['a: 40% is under its floor of 41%']);
  t.match(underFloors(cov, { a: 40 }), [/^b: 77.9% has no floor/]);
  t.same(raiseFloors(cov, { a: 45 }), { a: 45, b: 77 });
});
