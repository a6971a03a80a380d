import { timeChart } from '../charts.js';
import { api, clear, errorBox, fmtCost, h } from '../dom.js';
import type { View } from '../router.js';

type Row = Record<string, any>;

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
        timeChart(
          'CPU',
          procs.map((p) => ({ name: name(p), points: p.points.map((q: number[]) => [q[0], q[1]]) })),
          d.from,
          d.to,
          'pct',
        ),
        timeChart(
          'Memory (RSS)',
          procs.map((p) => ({ name: name(p), points: p.points.map((q: number[]) => [q[0], q[2] / 1024]) })),
          d.from,
          d.to,
          'mib',
        ),
        timeChart(
          'Tokens per interval',
          [
            { name: 'input', kind: 'bar', points: tokens.map((q) => [q[0]!, q[1]!]) },
            { name: 'output', kind: 'bar', points: tokens.map((q) => [q[0]!, q[2]!]) },
          ],
          d.from,
          d.to,
          'tokens',
          { bucket: d.bucket_us },
        ),
        timeChart(
          'Cumulative tokens',
          [
            { name: 'input tokens', points: cumIn },
            { name: 'output tokens', points: cumOut },
          ],
          d.from,
          d.to,
          'tokens',
        ),
        timeChart('Cumulative cost', [{ name: 'USD', points: cumCost }], d.from, d.to, 'usd', {
          note: 'list prices',
        }),
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
