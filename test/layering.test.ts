// Packages import only downward (.dependency-cruiser.cjs): a violation fails CI here.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ROOT } from './lib/run.js';

const DEPCRUISE = path.join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

t.test('the tree keeps the layering and has no import cycles (make deps-check)', async (t) => {
  const r = spawnSync('make', ['--no-print-directory', '-s', 'deps-check'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, MAKEFLAGS: '' },
  });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});

t.test('the rules catch the loader importing the CLI, a path into another package, and a cycle', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-layers-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of ['.dependency-cruiser.cjs', 'tsconfig.depcruise.json', 'tsconfig.base.json'])
    fs.copyFileSync(path.join(ROOT, f), path.join(dir, f));
  const put = (f: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  };
  put('packages/events/src/index.ts', 'export const v = 1;\n');
  put('packages/cli/src/index.ts', "import { v } from '@agentsight/events';\nexport const exit = v;\n");
  put('packages/bpf/src/index.ts', "import { exit } from '@agentsight/cli';\nexport const x = exit;\n");
  put(
    'packages/http/src/index.ts',
    "import { v } from '../../events/src/index.js';\nexport { a } from './a.js';\nexport const y = v;\n",
  );
  put('packages/http/src/a.ts', "import { y } from './index.js';\nexport const a = () => y;\n");
  const r = spawnSync(process.execPath, [DEPCRUISE, '--config', '.dependency-cruiser.cjs', 'packages'], {
    cwd: dir,
    encoding: 'utf8',
  });
  t.not(r.status, 0, 'depcruise fails');
  t.match(r.stdout, /layer-bpf: packages\/bpf\/src\/index\.ts → packages\/cli\/src\/index\.ts/);
  t.match(r.stdout, /into-another-package: packages\/http\/src\/index\.ts → packages\/events\/src\/index\.ts/);
  t.match(r.stdout, /no-circular/);
  t.notMatch(r.stdout, /layer-cli/, 'cli on events is allowed');
});
