// The dashboard: tokens and cost by model, agent and day; calls and errors over time; the
// tools used most; the slowest calls; alerts. Filters and time range as on the sessions page.
import type { Overview } from '@agentsight/serve';
import { barList, timeChart } from '../charts.js';
import { api, fmtDur, fmtNum, fmtTime, h } from '../dom.js';
import type { View } from '../router.js';
import { fmtValue, perBucket } from '../scale.js';
import { filterForm, filtersOf } from './sessions.js';

function sessionLink(id: string | undefined, text: Node | string): Node | string {
  return id ? h('a', { href: `/session?id=${encodeURIComponent(id)}` }, text) : text;
}

function table(head: string[], rows: Array<Array<Node | string>>, cls = ''): HTMLElement {
  return h(
    'table',
    { class: `otable ${cls}` },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        head.map((x, i) => h('th', { class: i ? 'num' : null }, x)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.map((r) =>
        h(
          'tr',
          null,
          r.map((c, i) => h('td', { class: i ? 'num' : null }, c)),
        ),
      ),
    ),
  );
}

function card(title: string, ...body: Array<Node | null>): HTMLElement {
  return h('section', { class: 'ocard' }, h('h3', null, title), ...body);
}

export function overview(): View {
  return {
    async render(root, params) {
      const f = filtersOf(params);
      root.appendChild(filterForm('/overview', params, {}, false));
      const { q: _q, ...filters } = f;
      const o = await api<Overview>('overview', filters);
      const sum = (k: 'calls' | 'tokensIn' | 'tokensOut') => o.byModel.reduce((n, r) => n + (r[k] ?? 0), 0);
      const cost = o.byModel.reduce((n, r) => n + (r.cost ?? 0), 0);
      const unpriced = o.byModel.filter((r) => r.cost == null && r.calls).map((r) => r.model);
      const errors = o.series.reduce((n, r) => n + r.errors, 0);
      const sessions = o.byAgent.reduce((n, r) => n + r.sessions, 0);
      const per = perBucket(o.bucket);
      root.appendChild(
        h(
          'div',
          { class: 'totals' },
          h('span', null, h('b', null, fmtNum(sessions)), ' sessions'),
          h('span', null, h('b', null, fmtNum(sum('calls'))), ' LLM calls'),
          h('span', null, h('b', null, fmtValue(errors, 'count')), ' failed'),
          h('span', null, h('b', null, fmtValue(sum('tokensIn'), 'tokens')), ' input tokens'),
          h('span', null, h('b', null, fmtValue(sum('tokensOut'), 'tokens')), ' output tokens'),
          h(
            'span',
            { title: unpriced.length ? `unpriced: ${unpriced.join(', ')}` : null },
            h('b', null, fmtValue(cost, 'usd')),
            unpriced.length
              ? ` estimated cost (${unpriced.length} model${unpriced.length > 1 ? 's' : ''} unpriced)`
              : ' estimated cost',
          ),
          h('span', { class: 'muted' }, `${fmtTime(o.from, true).slice(0, 16)} – ${fmtTime(o.to, true).slice(0, 16)}`),
        ),
      );
      const pts = (k: 'calls' | 'errors' | 'tokensIn' | 'tokensOut' | 'cost') =>
        o.series.map((r): [number, number] => [r.t, (r[k] as number | undefined) ?? 0]);
      root.appendChild(
        h(
          'div',
          { class: 'charts' },
          timeChart(
            'LLM calls and errors',
            [
              {
                name: 'ok',
                kind: 'bar',
                color: '#3fb463',
                points: o.series.map((r): [number, number] => [r.t, r.calls - r.errors]),
              },
              { name: 'failed', kind: 'bar', color: '#e5534b', points: pts('errors') },
            ],
            o.from,
            o.to,
            'count',
            { bucket: o.bucket, note: `calls ${per}`, width: 400 },
          ),
          timeChart(
            'Tokens',
            [
              { name: 'input', kind: 'bar', points: pts('tokensIn') },
              { name: 'output', kind: 'bar', points: pts('tokensOut') },
            ],
            o.from,
            o.to,
            'tokens',
            { bucket: o.bucket, note: `tokens ${per}`, width: 400 },
          ),
          timeChart('Cost', [{ name: 'USD', kind: 'bar', points: pts('cost') }], o.from, o.to, 'usd', {
            bucket: o.bucket,
            note: `USD ${per}, list prices`,
            width: 400,
          }),
        ),
      );
      const grid = h('div', { class: 'ogrid' });
      root.appendChild(grid);
      grid.append(
        card(
          'By model',
          table(
            ['model', 'calls', 'input', 'output', 'cost'],
            o.byModel.map((r) => [
              h('span', { title: r.provider ?? '' }, r.model),
              fmtNum(r.calls),
              fmtValue(r.tokensIn, 'tokens'),
              fmtValue(r.tokensOut, 'tokens'),
              r.cost == null ? h('span', { class: 'muted' }, 'unpriced') : fmtValue(r.cost, 'usd'),
            ]),
          ),
        ),
        card(
          'By agent',
          table(
            ['agent', 'sessions', 'calls', 'input', 'output', 'cost'],
            o.byAgent.map((r) => [
              h('a', { href: `/sessions?agent=${encodeURIComponent(r.agent)}` }, r.agent),
              fmtNum(r.sessions),
              fmtNum(r.calls),
              fmtValue(r.tokensIn, 'tokens'),
              fmtValue(r.tokensOut, 'tokens'),
              r.cost == null ? h('span', { class: 'muted' }, 'unpriced') : fmtValue(r.cost, 'usd'),
            ]),
          ),
        ),
        card(
          'By day',
          table(
            ['day', 'calls', 'input', 'output', 'cost'],
            o.byDay.map((r) => [
              r.day,
              fmtNum(r.calls),
              fmtValue(r.tokensIn, 'tokens'),
              fmtValue(r.tokensOut, 'tokens'),
              r.cost == null ? h('span', { class: 'muted' }, '—') : fmtValue(r.cost, 'usd'),
            ]),
          ),
        ),
        card(
          'Top tools',
          o.topTools.length
            ? barList(
                o.topTools.slice(0, 12).map((t) => ({
                  label: h('a', { href: `/sessions?tool=${encodeURIComponent(t.tool)}` }, t.tool),
                  value: t.calls,
                  bad: t.errors,
                  extra: t.errors ? `${t.errors} failed` : '',
                })),
                'count',
              )
            : h('div', { class: 'muted' }, 'No tool calls.'),
        ),
        card(
          'Slowest calls',
          table(
            ['call', 'model', 'started', 'duration'],
            o.slowest
              .slice(0, 10)
              .map((c) => [
                sessionLink(c.session, h('span', { class: 'mono' }, c.id.length > 24 ? `${c.id.slice(0, 23)}…` : c.id)),
                c.model ?? '?',
                fmtTime(c.start, true).slice(5, 19),
                fmtDur(c.durationUs / 1000),
              ]),
            'slow',
          ),
        ),
        card(
          `Alerts (${o.alerts.length})`,
          o.alerts.length
            ? h(
                'div',
                { class: 'oalerts' },
                o.alerts
                  .slice(0, 30)
                  .map((a) =>
                    h(
                      'div',
                      { class: `alert sev-${a.severity ?? 'warn'}` },
                      h('span', { class: `badge ${a.severity === 'info' ? '' : 'bad'}` }, a.severity ?? 'alert'),
                      ' ',
                      h('b', null, a.rule),
                      ' ',
                      a.message ?? '',
                      ' ',
                      h('span', { class: 'muted small' }, fmtTime(a.ts, true).slice(5, 19)),
                      ' ',
                      a.session ? sessionLink(a.session, 'session') : null,
                    ),
                  ),
              )
            : h('div', { class: 'muted' }, 'No alerts.'),
        ),
      );
    },
  };
}
