// The UI's pure modules (chart scales, injected-context splitting), bundled from their
// source by esbuild as the UI build does, and run in Node: the browser tests see their
// effect on a page, these see every scale and shape.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import t from 'tap';
import { ROOT } from './lib/run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-ui-units-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

async function load<T>(name: string): Promise<T> {
  const out = path.join(dir, `${name}.mjs`);
  await esbuild.build({
    entryPoints: [path.join(ROOT, `packages/ui/src/${name}.ts`)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    outfile: out,
    logLevel: 'error',
  });
  return (await import(pathToFileURL(out).href)) as T;
}

// The shapes used here (the test project does not compile the browser sources).
type Unit = 'usd' | 'tokens' | 'count';
interface Scale {
  niceStep(raw: number): number;
  niceTicks(lo: number, hi: number, target?: number, integer?: boolean): { ticks: number[]; step: number; max: number };
  fmtTick(v: number, unit: Unit, step: number, top?: number): string;
  fmtValue(v: number, unit: Unit): string;
  timeTicks(from: number, to: number, target?: number): { ticks: number[]; step: number };
  fmtTimeTick(t: number, step: number, span: number): string;
  perBucket(us: number): string;
}
interface Injected {
  splitInjected(text: string): { own: string; blocks: string[] };
  injectedLabel(block: string): string;
  injectedSummary(blocks: string[]): string;
}
const sc = await load<Scale>('scale');
const inj = await load<Injected>('injected');

t.test('y ticks: 1-2-5 steps, labels distinct and in the unit at every scale', async (t) => {
  for (const max of [0.0004, 0.0031, 0.004, 0.012, 0.9, 1, 7.3, 42, 999, 1000, 1234, 56_789, 1_200_000, 3.4e9]) {
    for (const unit of ['usd', 'tokens', 'count'] as const) {
      const { ticks, step, max: top } = sc.niceTicks(0, max, 4);
      t.ok(top >= max, `${unit} ${max}: the last tick ${top} covers the data`);
      t.ok(ticks.length >= 2 && ticks.length <= 9, `${unit} ${max}: ${ticks.length} ticks`);
      const labels = ticks.map((v) => sc.fmtTick(v, unit, step, top));
      t.equal(new Set(labels).size, labels.length, `${unit} ${max}: distinct labels ${labels.join(' ')}`);
      if (unit === 'usd')
        t.ok(
          labels.every((l) => l.startsWith('$')),
          'dollars say so',
        );
      if (unit !== 'usd' && top >= 1e3)
        t.ok(
          labels.slice(1).every((l) => /[kMB]$/.test(l)),
          `k/M/B above a thousand: ${labels.join(' ')}`,
        );
    }
  }
});

t.test('the cumulative-cost axis of the issue reads 0.001, 0.002 …', async (t) => {
  const { ticks, step, max } = sc.niceTicks(0, 0.0037, 4);
  t.same(
    ticks.map((v) => sc.fmtTick(v, 'usd', step, max)),
    ['$0', '$0.001', '$0.002', '$0.003', '$0.004'],
  );
  const big = sc.niceTicks(0, 2_400_000, 4);
  t.same(
    big.ticks.map((v) => sc.fmtTick(v, 'tokens', big.step, big.max)),
    ['0', '1M', '2M', '3M'],
  );
  const mid = sc.niceTicks(0, 1800, 4);
  t.same(
    mid.ticks.map((v) => sc.fmtTick(v, 'tokens', mid.step, mid.max)),
    ['0', '0.5k', '1.0k', '1.5k', '2.0k'],
    'zero is 0, not 0.0',
  );
  t.same(sc.niceTicks(0, 2, 4, true).ticks, [0, 1, 2], 'two calls: no half calls on the axis');
  t.equal(sc.niceStep(0.0021), 0.005);
  t.equal(sc.niceStep(0.001), 0.001);
  t.equal(sc.niceStep(1.5), 2);
});

t.test('single values and time ticks', async (t) => {
  t.equal(sc.fmtValue(0.00042, 'usd'), '$0.0004');
  t.equal(sc.fmtValue(12.5, 'usd'), '$12.50');
  t.equal(sc.fmtValue(1534, 'tokens'), '1.5k');
  t.equal(sc.fmtValue(2_500_000, 'tokens'), '2.5M');
  t.equal(sc.fmtValue(999, 'tokens'), '999');
  const H = 3600e6;
  const from = Date.UTC(2026, 11, 5, 9, 7, 13) * 1000;
  for (const [span, target] of [
    [2e6, 6],
    [90e6, 6],
    [3 * H, 6],
    [36 * H, 6],
    [20 * 24 * H, 6],
  ] as const) {
    const { ticks, step } = sc.timeTicks(from, from + span, target);
    t.ok(ticks.length >= 2 && ticks.length <= target * 2 + 1, `span ${span / 1e6} s: ${ticks.length} ticks`);
    t.ok(
      ticks.every((x) => x >= from && x <= from + span),
      'inside the range',
    );
    const labels = ticks.map((x) => sc.fmtTimeTick(x, step, span));
    t.equal(new Set(labels).size, labels.length, `distinct: ${labels.join(' ')}`);
  }
  t.equal(sc.perBucket(3600e6), 'per hour');
  t.equal(sc.perBucket(300e6), 'per 5 minutes');
});

t.test("Claude Code's injected blocks come out of the user's turn, labelled", async (t) => {
  const claudeMd =
    "<system-reminder>\nAs you answer the user's questions, you can use the following context:\n# claudeMd\nContents of /w/CLAUDE.md (project instructions):\nUse tabs.\n</system-reminder>";
  const date = "<system-reminder>\n# currentDate\nToday's date is 2026-12-05.\n</system-reminder>";
  const mixed = `${claudeMd}\nCount the quokkas in zoo.txt\n${date}`;
  const s = inj.splitInjected(mixed);
  t.equal(s.own, 'Count the quokkas in zoo.txt', "the user's words, alone");
  t.equal(s.blocks.length, 2);
  t.same(s.blocks.map(inj.injectedLabel), ['CLAUDE.md', 'date']);
  t.same(inj.splitInjected('plain words').blocks, []);
  t.same(inj.splitInjected('<system-reminder>cut off in the capture'), {
    own: '',
    blocks: ['<system-reminder>cut off in the capture'],
  });
  t.equal(
    inj.injectedLabel(
      '<system-reminder>The following skills are available for use with the Skill tool:</system-reminder>',
    ),
    'skills',
  );
  t.equal(inj.injectedLabel('<environment_context>\n<cwd>/w</cwd>\n</environment_context>'), 'environment');
  t.match(inj.injectedSummary([claudeMd, date]), /^injected context \(2 blocks, [\d.]+ KB\): CLAUDE\.md, date$/);
});
