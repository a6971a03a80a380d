// SVG charts shared by Metrics and Overview: a value over time (lines or stacked bars) with
// axes from scale.ts, and a labelled horizontal bar list for "by model / by tool" tables.
import { h, s } from './dom.js';
import { fmtTick, fmtTimeTick, fmtValue, niceTicks, timeTicks, type Unit } from './scale.js';

export interface Series {
  name: string;
  points: Array<[number, number]>;
  kind?: 'line' | 'bar';
  /** A CSS colour; else the palette's. */
  color?: string;
}

export const PALETTE = ['#4e9af1', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7'];

/**
 * A chart of `series` over [from, to]. Bars of one bucket (`bucket` µs wide) stack; lines
 * are drawn over them. The y axis starts at 0 and ends on a nice tick.
 */
export function timeChart(
  title: string,
  series: Series[],
  from: number,
  to: number,
  unit: Unit,
  opts: { bucket?: number; note?: string; width?: number } = {},
): HTMLElement {
  const W = opts.width ?? 560;
  const H = 200;
  const L = 58;
  const R = 10;
  const B = 22;
  const T = 10;
  if (to <= from) to = from + 1;
  // Stacked bar tops: the largest bar per bucket, summed over the bar series.
  const stack = new Map<number, number>();
  let max = 0;
  for (const sr of series)
    for (const [t, v] of sr.points) {
      if (sr.kind === 'bar') {
        const top = (stack.get(t) ?? 0) + v;
        stack.set(t, top);
        max = Math.max(max, top);
      } else max = Math.max(max, v);
    }
  const yt = niceTicks(0, max, 4, unit === 'count');
  const x = (t: number) => L + ((t - from) / (to - from)) * (W - L - R);
  const y = (v: number) => T + (1 - v / yt.max) * (H - T - B);
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart' });
  for (const v of yt.ticks) {
    svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.appendChild(
      s(
        'text',
        { x: L - 4, y: y(v) + 4, class: 'axis ytick', 'text-anchor': 'end' },
        fmtTick(v, unit, yt.step, yt.max),
      ),
    );
  }
  const tt = timeTicks(from, to, Math.max(2, Math.floor((W - L - R) / 90)));
  for (const t of tt.ticks) {
    svg.appendChild(s('line', { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4, class: 'grid' }));
    svg.appendChild(
      s(
        'text',
        { x: x(t), y: H - 6, class: 'axis xtick', 'text-anchor': 'middle' },
        fmtTimeTick(t, tt.step, to - from),
      ),
    );
  }
  const bucket = opts.bucket ?? 0;
  const bw = bucket ? Math.max(1, ((W - L - R) * bucket) / (to - from) - 1) : 3;
  const base = new Map<number, number>();
  series.forEach((sr, i) => {
    const color = sr.color ?? PALETTE[i % PALETTE.length]!;
    if (sr.kind === 'bar') {
      for (const [t, v] of sr.points) {
        if (!v) continue;
        const b0 = base.get(t) ?? 0;
        base.set(t, b0 + v);
        svg.appendChild(
          s(
            'rect',
            {
              x: x(t),
              y: y(b0 + v),
              width: Math.min(bw, Math.max(1, W - R - x(t))),
              height: Math.max(0.5, y(b0) - y(b0 + v)),
              fill: color,
              class: `bar s${i}`,
            },
            s('title', {}, `${sr.name}: ${fmtValue(v, unit)} at ${fmtTimeTick(t, bucket || 1, to - from)}`),
          ),
        );
      }
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
    h('figcaption', null, title, opts.note ? h('span', { class: 'muted small' }, ` ${opts.note}`) : null),
    svg,
    h(
      'div',
      { class: 'legend' },
      series.map((sr, i) =>
        h(
          'span',
          null,
          h('i', { class: 'sw', style: `background:${sr.color ?? PALETTE[i % PALETTE.length]}` }),
          sr.name,
        ),
      ),
    ),
  );
}

/** Rows with a bar each, scaled to the largest: a readable "top N" without axes. */
export function barList(
  rows: Array<{ label: Node | string; value: number; extra?: Node | string; href?: string; bad?: number }>,
  unit: Unit,
): HTMLElement {
  const max = Math.max(0, ...rows.map((r) => r.value)) || 1;
  return h(
    'div',
    { class: 'barlist' },
    rows.map((r) =>
      h(
        'div',
        { class: 'barrow' },
        h('div', { class: 'bl-label', title: typeof r.label === 'string' ? r.label : null }, r.label),
        h(
          'div',
          { class: 'bl-bar' },
          h('i', { class: 'bl-fill', style: `width:${((r.value / max) * 100).toFixed(1)}%` }),
          r.bad ? h('i', { class: 'bl-bad', style: `width:${(((r.bad ?? 0) / max) * 100).toFixed(1)}%` }) : null,
        ),
        h('div', { class: 'bl-value' }, fmtValue(r.value, unit)),
        h('div', { class: 'bl-extra muted small' }, r.extra ?? ''),
      ),
    ),
  );
}
