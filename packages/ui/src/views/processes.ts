import { api, argvText, clear, clipBlock, errorBox, exitBadge, fmtDur, fmtTime, h } from '../dom.js';
import type { View } from '../router.js';
import { navigate, setParams } from '../router.js';

type Row = Record<string, any>;

/** Parent of each process row: the row for its ppid that was alive when it started. */
export function buildTree(rows: Row[]): { roots: Row[]; kids: Map<Row, Row[]> } {
  const byPid = new Map<number, Row[]>();
  for (const r of rows) {
    const l = byPid.get(r.pid) ?? [];
    l.push(r);
    byPid.set(r.pid, l);
  }
  const kids = new Map<Row, Row[]>();
  const roots: Row[] = [];
  for (const r of rows) {
    const cands = r.ppid != null ? byPid.get(r.ppid) : undefined;
    const parent = cands?.filter((c) => c !== r && c.start_ts <= r.start_ts).pop() ?? cands?.find((c) => c !== r);
    if (parent) {
      const l = kids.get(parent) ?? [];
      l.push(r);
      kids.set(parent, l);
    } else roots.push(r);
  }
  return { roots, kids };
}

/** A process and its children as a folding tree; a click on one calls `onSelect`. */
export function processNode(
  r: Row,
  kids: Map<Row, Row[]>,
  depth: number,
  q: string,
  onSelect: (rid: number) => void,
): HTMLElement | null {
  const children = (kids.get(r) ?? [])
    .map((k) => processNode(k, kids, depth + 1, q, onSelect))
    .filter((x): x is HTMLElement => !!x);
  const text = argvText(r.argv, r.comm ?? '?');
  if (q && !text.toLowerCase().includes(q) && !children.length) return null;
  const dur = r.end_ts ? fmtDur((r.end_ts - r.start_ts) / 1000) : '';
  const line = h(
    'div',
    {
      class: 'node',
      'data-rid': r.rid,
      onclick: (e: Event) => {
        e.preventDefault();
        onSelect(r.rid);
      },
    },
    h('span', { class: 'mono cmd', title: text.length > 80 ? text.slice(0, 2000) : null }, text),
    ' ',
    h('span', { class: 'muted small' }, `pid ${r.pid}`),
    ' ',
    exitBadge(r),
    ' ',
    h(
      'span',
      { class: 'muted small' },
      [dur, r.opens ? `${r.opens} files` : '', r.conns ? `${r.conns} net` : '', r.fileops ? `${r.fileops} fs ops` : '']
        .filter(Boolean)
        .join(' · '),
    ),
  );
  if (!children.length) return h('div', { class: 'leaf' }, line);
  return h('details', { open: depth < 6 || !!q }, h('summary', null, line), h('div', { class: 'kids' }, children));
}

export function processes(): View {
  let treeBox: HTMLElement;
  let pane: HTMLElement;
  let params: URLSearchParams;

  async function select(rid: number) {
    setParams({ rid });
    for (const el of treeBox.querySelectorAll('.node.sel')) el.classList.remove('sel');
    treeBox.querySelector(`.node[data-rid="${rid}"]`)?.classList.add('sel');
    clear(pane);
    try {
      const p = await api<Row>(`processes/${rid}`);
      const dur = p.end_ts ? (p.end_ts - p.start_ts) / 1000 : null;
      pane.append(
        h(
          'div',
          { class: 'pane-head' },
          h('b', null, p.comm ?? '?'),
          ` pid ${p.pid}`,
          p.ppid != null ? ` · parent ${p.ppid}` : '',
          ' ',
          exitBadge(p),
        ),
        clipBlock(argvText(p.argv, p.filename ?? p.comm), 'argv', 12, 1500),
        h(
          'table',
          { class: 'kvt' },
          h(
            'tbody',
            null,
            h('tr', null, h('th', null, 'binary'), h('td', { class: 'mono' }, p.filename ?? '—')),
            h('tr', null, h('th', null, 'cwd'), h('td', { class: 'mono' }, p.cwd ?? '—')),
            h(
              'tr',
              null,
              h('th', null, 'started'),
              h('td', null, fmtTime(p.start_ts, true), p.snapshot ? ' (running before capture)' : ''),
            ),
            h('tr', null, h('th', null, 'duration'), h('td', null, dur != null ? fmtDur(dur) : 'still running')),
            h('tr', null, h('th', null, 'uid'), h('td', null, p.uid ?? '—')),
            h(
              'tr',
              null,
              h('th', null, 'cpu / memory'),
              h(
                'td',
                null,
                p.metrics?.samples
                  ? `max ${p.metrics.max_cpu?.toFixed(1)}% cpu · max ${(p.metrics.max_rss_kb / 1024).toFixed(1)} MiB`
                  : 'no samples',
              ),
            ),
          ),
        ),
        h(
          'div',
          { class: 'links small' },
          h(
            'a',
            { href: `/events?pid=${p.pid}&from=${p.start_ts}${p.end_ts ? `&to=${p.end_ts}` : ''}` },
            'events of this process',
          ),
          ' · ',
          h('a', { href: `/metrics?pid=${p.pid}` }, 'metrics'),
        ),
        h('h4', null, `Touched (${p.touches.length})`),
        p.touches.length
          ? h(
              'table',
              { class: 'touches' },
              h(
                'tbody',
                null,
                p.touches.map((t: Row) =>
                  h(
                    'tr',
                    { class: t.failed ? 'failed' : '' },
                    h('td', null, h('span', { class: `tag t-${t.kind}` }, t.kind)),
                    h('td', { class: 'mono' }, t.target),
                    h('td', { class: 'muted' }, t.count > 1 ? `×${t.count}` : ''),
                    h('td', { class: 'muted' }, t.failed ? 'failed' : ''),
                  ),
                ),
              ),
            )
          : h('div', { class: 'muted' }, 'nothing recorded'),
        h('h4', null, `Children (${p.children.length})`),
        h(
          'ul',
          { class: 'plain' },
          p.children.map((c: Row) =>
            h('li', null, h('a', { href: `/processes?rid=${c.rid}` }, argvText(c.argv, c.comm)), ' ', exitBadge(c)),
          ),
        ),
      );
    } catch (e) {
      pane.appendChild(errorBox(e));
    }
  }

  async function draw() {
    clear(treeBox);
    const data = await api<{ processes: Row[]; truncated: boolean }>('processes', {
      root: params.get('root') ?? undefined,
      from: params.get('from') ?? undefined,
      to: params.get('to') ?? undefined,
    });
    const { roots, kids } = buildTree(data.processes);
    const q = (params.get('q') ?? '').toLowerCase();
    for (const r of roots) {
      const n = processNode(r, kids, 0, q, (rid) => void select(rid));
      if (n) treeBox.appendChild(n);
    }
    if (!data.processes.length)
      treeBox.appendChild(h('div', { class: 'empty' }, 'No processes captured yet (as-proc events).'));
    if (data.truncated)
      treeBox.appendChild(h('div', { class: 'muted' }, 'Showing the first processes only; narrow the time range.'));
  }

  return {
    async render(root, p) {
      params = p;
      const form = h(
        'form',
        {
          class: 'filters',
          onsubmit: (e: Event) => {
            e.preventDefault();
            const v = String(new FormData(e.target as HTMLFormElement).get('q') ?? '').trim();
            navigate('/processes', { q: v, root: p.get('root') });
          },
        },
        h(
          'label',
          null,
          'command line ',
          h('input', { name: 'q', type: 'search', value: p.get('q') ?? '', placeholder: 'filter', size: 24 }),
        ),
        h('button', { type: 'submit' }, 'filter'),
        p.get('root') ? h('a', { href: '/processes', class: 'small' }, `subtree of ${p.get('root')} ✕`) : null,
      );
      treeBox = h('div', { class: 'tree' });
      pane = h('aside', { class: 'pane' }, h('div', { class: 'muted' }, 'Select a process.'));
      root.append(form, h('div', { class: 'split' }, treeBox, pane));
      await draw();
      if (p.get('rid')) await select(Number(p.get('rid')));
    },
    async live() {
      const sel = new URLSearchParams(location.search).get('rid');
      const open = treeBox.scrollTop;
      await draw();
      treeBox.scrollTop = open;
      if (sel) treeBox.querySelector(`.node[data-rid="${sel}"]`)?.classList.add('sel');
    },
  };
}
