import { api, clear, errorBox, fmtCost, fmtTime, h, s } from '../dom.js';
import type { View } from '../router.js';

type Row = Record<string, any>;
interface Series {
  name: string;
  points: Array<[number, number]>;
  kind?: 'line' | 'bar';
}

const PALETTE = ['#4e9af1', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7'];

function chart(
  title: string,
  series: Series[],
  from: number,
  to: number,
  unit: string,
  fmt = (v: number) => v.toFixed(1),
): HTMLElement {
  const W = 560;
  const H = 200;
  const L = 50;
  const B = 22;
  const T = 8;
  let max = 0;
  for (const sr of series) for (const [, v] of sr.points) max = Math.max(max, v);
  max = max || 1;
  const x = (t: number) => L + ((t - from) / Math.max(1, to - from)) * (W - L - 8);
  const y = (v: number) => T + (1 - v / max) * (H - T - B);
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart' });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.appendChild(s('line', { x1: L, x2: W - 8, y1: y(v), y2: y(v), class: 'grid' }));
    svg.appendChild(s('text', { x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, fmt(v)));
  }
  svg.appendChild(s('text', { x: L, y: H - 6, class: 'axis' }, fmtTime(from)));
  svg.appendChild(s('text', { x: W - 8, y: H - 6, class: 'axis', 'text-anchor': 'end' }, fmtTime(to)));
  series.forEach((sr, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    if (sr.kind === 'bar') {
      const bw = Math.max(2, (W - L) / Math.max(30, sr.points.length * 3));
      for (const [t, v] of sr.points)
        svg.appendChild(
          s(
            'rect',
            { x: x(t) + i * bw, y: y(v), width: bw, height: Math.max(0, H - B - y(v)), fill: color },
            s('title', {}, `${sr.name}: ${fmt(v)} ${unit} at ${fmtTime(t)}`),
          ),
        );
    } else if (sr.points.length) {
      const d = sr.points.map(([t, v], k) => `${k ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join('');
      svg.appendChild(s('path', { d, fill: 'none', stroke: color, 'stroke-width': 1.6 }, s('title', {}, sr.name)));
      if (sr.points.length < 3)
        for (const [t, v] of sr.points) svg.appendChild(s('circle', { cx: x(t), cy: y(v), r: 2.5, fill: color }));
    }
  });
  return h(
    'figure',
    { class: 'chartbox' },
    h('figcaption', null, title, h('span', { class: 'muted' }, ` (${unit})`)),
    svg,
    h(
      'div',
      { class: 'legend' },
      series.map((sr, i) =>
        h('span', null, h('i', { class: 'sw', style: `background:${PALETTE[i % PALETTE.length]}` }), sr.name),
      ),
    ),
  );
}

export function metrics(): View {
  let box: HTMLElement;
  let params: URLSearchParams;

  async function draw() {
    const d = await api<Row>('metrics', {
      pid: params.get('pid') ?? undefined,
      from: params.get('from') ?? undefined,
      to: params.get('to') ?? undefined,
      buckets: 120,
    });
    clear(box);
    const procs = (d.processes as Row[])
      .slice()
      .sort(
        (a, b) => Math.max(...b.points.map((p: number[]) => p[1])) - Math.max(...a.points.map((p: number[]) => p[1])),
      )
      .slice(0, 8);
    const name = (p: Row) => `${p.comm ?? '?'} ${p.pid}`;
    const tokens = d.tokens as number[][];
    let inT = 0;
    let outT = 0;
    let cost = 0;
    const cumIn: Array<[number, number]> = [];
    const cumOut: Array<[number, number]> = [];
    const cumCost: Array<[number, number]> = [];
    for (const [t, i, o, c] of tokens) {
      inT += i!;
      outT += o!;
      cost += c!;
      cumIn.push([t!, inT]);
      cumOut.push([t!, outT]);
      cumCost.push([t!, cost]);
    }
    box.append(
      h(
        'div',
        { class: 'totals' },
        h('span', null, h('b', null, String(inT)), ' input tokens'),
        h('span', null, h('b', null, String(outT)), ' output tokens'),
        h('span', null, h('b', null, fmtCost(cost)), ' estimated cost (list prices)'),
      ),
      h(
        'div',
        { class: 'charts' },
        chart(
          'CPU',
          procs.map((p) => ({ name: name(p), points: p.points.map((q: number[]) => [q[0], q[1]]) })),
          d.from,
          d.to,
          '%',
        ),
        chart(
          'Memory (RSS)',
          procs.map((p) => ({ name: name(p), points: p.points.map((q: number[]) => [q[0], q[2] / 1024]) })),
          d.from,
          d.to,
          'MiB',
        ),
        chart(
          'Tokens per interval',
          [
            { name: 'input', kind: 'bar', points: tokens.map((q) => [q[0]!, q[1]!]) },
            { name: 'output', kind: 'bar', points: tokens.map((q) => [q[0]!, q[2]!]) },
          ],
          d.from,
          d.to,
          'tokens',
          (v) => v.toFixed(0),
        ),
        chart(
          'Cumulative tokens',
          [
            { name: 'input tokens', points: cumIn },
            { name: 'output tokens', points: cumOut },
          ],
          d.from,
          d.to,
          'tokens',
          (v) => v.toFixed(0),
        ),
        chart('Cumulative cost', [{ name: 'USD', points: cumCost }], d.from, d.to, 'USD', (v) => v.toFixed(3)),
      ),
    );
    if (!procs.length)
      box.appendChild(h('div', { class: 'muted' }, 'No proc/metrics samples (as-proc --metrics) in this range.'));
  }

  return {
    async render(root, p) {
      params = p;
      box = h('div', { class: 'metrics' });
      root.append(
        p.get('pid')
          ? h(
              'div',
              { class: 'filters' },
              `pid ${p.get('pid')} `,
              h('a', { href: '/metrics', class: 'small' }, 'all processes ✕'),
            )
          : '',
        box,
      );
      try {
        await draw();
      } catch (e) {
        box.appendChild(errorBox(e));
      }
    },
    async live() {
      await draw();
    },
  };
}
