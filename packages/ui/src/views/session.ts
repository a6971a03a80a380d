// One agent session (`/session?id=`): its conversation, timeline and process tree, scoped
// to it, with the session list (the same search and filters) beside it, the session
// highlighted there. Sub-agents sit under the tool call that started them (Claude Code's
// Task/Agent), their own calls nested, their own sub-agents under theirs.
import type { SessionDetail, SessionRow } from '@agentsight/serve';
import { alertList, callCard, callDetail, type Row } from '../calls.js';
import { api, clear, clipLine, errorBox, fmtDur, fmtNum, fmtTime, h } from '../dom.js';
import type { View } from '../router.js';
import { navigate, setParams } from '../router.js';
import { fmtValue } from '../scale.js';
import { buildTree, processNode } from './processes.js';
import { filtersOf, sessionList } from './sessions.js';
import { drawTimeline } from './timeline.js';

const PAGE = 25;
/** How deep sub-agents of sub-agents are drawn inline; deeper ones are a link. */
const MAX_NEST = 3;
const TABS = ['conversation', 'timeline', 'processes'] as const;
type Tab = (typeof TABS)[number];

const details = new Map<string, Promise<SessionDetail>>();
function detailOf(id: string): Promise<SessionDetail> {
  let p = details.get(id);
  if (!p) {
    p = api<SessionDetail>(`sessions/${encodeURIComponent(id)}`);
    // Only while this page is open: a live session changes.
    details.set(id, p);
    p.catch(() => details.delete(id));
  }
  return p;
}

function summaryLine(s: SessionRow): HTMLElement {
  return h(
    'div',
    { class: 'meta small' },
    h('span', { class: 'tag agent' }, s.agent ?? 'agent?'),
    s.models.length ? h('span', null, s.models.join(', ')) : null,
    h('span', null, `${s.calls} calls · ${s.toolCalls} tool calls`),
    h('span', null, `in ${fmtNum(s.tokensIn)} · out ${fmtNum(s.tokensOut)} tok`),
    h('span', null, s.cost != null ? fmtValue(s.cost, 'usd') : 'cost unknown'),
    s.errors ? h('span', { class: 'badge bad' }, `${s.errors} error${s.errors > 1 ? 's' : ''}`) : null,
    s.alerts ? h('span', { class: 'badge warn' }, `${s.alerts} alert${s.alerts > 1 ? 's' : ''}`) : null,
  );
}

/** Byproducts of a session id for links: the current filters kept. */
function href(path: string, extra: Record<string, string>): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(filtersOf(new URLSearchParams(location.search)))) if (v) qs.set(k, v);
  for (const [k, v] of Object.entries(extra)) qs.set(k, v);
  return `${path}?${qs}`;
}

/**
 * The calls of a session as cards, PAGE at a time, each sub-agent nested under the tool call
 * that started it (or listed after the calls when no tool call names it).
 */
async function conversationOf(box: HTMLElement, d: SessionDetail, depth: number): Promise<void> {
  const byTool = new Map<string, SessionRow[]>();
  for (const c of d.children) {
    const k = c.parent?.toolCall;
    if (!k) continue;
    const l = byTool.get(k) ?? [];
    l.push(c);
    byTool.set(k, l);
  }
  const placed = new Set<string>();
  const under = (id: string | null): Node | null => {
    const kids = id ? byTool.get(id) : undefined;
    if (!kids?.length) return null;
    for (const k of kids) placed.add(k.id);
    return h(
      'div',
      { class: 'subagents' },
      kids.map((k) => subagentBox(k, depth + 1)),
    );
  };
  const calls = d.calls as Row[];
  let shown = 0;
  const list = h('div', { class: 'calls-list' });
  box.appendChild(list);
  const more = async () => {
    box.querySelector(':scope > button.more')?.remove();
    const slice = calls.slice(shown, shown + PAGE);
    const ds = await Promise.all(slice.map((c) => (c.state === 'streaming' ? undefined : callDetail(c.id))));
    slice.forEach((c, i) => list.appendChild(callCard(c, ds[i], { under })));
    shown += slice.length;
    if (shown < calls.length)
      box.appendChild(
        h(
          'button',
          { class: 'more', type: 'button', onclick: () => void more() },
          `more calls (${calls.length - shown} left)`,
        ),
      );
    else {
      // Sub-agents no tool call on the page named: after the calls.
      const rest = d.children.filter((c) => !placed.has(c.id));
      if (rest.length)
        box.appendChild(
          h(
            'div',
            { class: 'subagents loose' },
            h('h4', null, 'Sub-agents'),
            rest.map((k) => subagentBox(k, depth + 1)),
          ),
        );
    }
  };
  if (!calls.length) list.appendChild(h('div', { class: 'empty' }, 'No LLM calls in this session.'));
  await more();
}

function subagentBox(s: SessionRow, depth: number): HTMLElement {
  const body = h('div', { class: 'sub-body' });
  const box = h(
    'details',
    { class: 'subagent', open: depth <= 1, 'data-session': s.id },
    h(
      'summary',
      null,
      h('span', { class: 'tag sub' }, 'sub-agent'),
      ' ',
      h('span', { class: 'title' }, s.title ? clipLine(s.title, 120, '') : '(no prompt)'),
      ' ',
      h('span', { class: 'muted small' }, `${s.calls} calls · ${fmtNum(s.tokensIn + s.tokensOut)} tok`),
      ' ',
      h('a', { href: href('/session', { id: s.id }), class: 'small' }, 'open'),
    ),
    body,
  );
  let loaded = false;
  const load = () => {
    if (loaded || !box.open) return;
    loaded = true;
    if (depth > MAX_NEST) {
      body.appendChild(h('div', { class: 'muted small' }, 'nested deeper: open it on its own page'));
      return;
    }
    body.appendChild(h('div', { class: 'muted small loading' }, 'loading…'));
    void detailOf(s.id)
      .then(async (d) => {
        clear(body);
        await conversationOf(body, d, depth);
      })
      .catch((e) => {
        clear(body);
        body.appendChild(errorBox(e));
      });
  };
  box.addEventListener('toggle', load);
  if (box.open) queueMicrotask(load);
  return box;
}

/** Alerts about this session: trace/alert events in its time range from its processes or naming its calls. */
async function alertsOf(d: SessionDetail): Promise<Row[]> {
  if (!d.session.alerts) return [];
  const pids = new Set((d.processes as Row[]).map((p) => p.pid));
  if (d.session.pid != null) pids.add(d.session.pid);
  const ids = (d.calls as Row[]).map((c) => String(c.id));
  const { events } = await api<{ events: Row[] }>('events', {
    src: 'trace',
    type: 'alert',
    from: d.session.start - 1_000_000,
    to: d.session.end + 60_000_000,
    limit: 200,
  }).catch(() => ({ events: [] as Row[] }));
  return events.filter(
    (a) =>
      a.session === d.session.id || pids.has(a.pid) || ids.some((id) => JSON.stringify(a.evidence ?? '').includes(id)),
  );
}

async function timelineOf(box: HTMLElement, d: SessionDetail, onCall: (c: Row) => void): Promise<void> {
  const s = d.session;
  // The session's own range, padded a little: its calls are not 1 px slivers of a whole store.
  const pad = Math.max(200_000, (s.end - s.start) * 0.02);
  let from = s.start - pad;
  let to = s.end + pad;
  const own = new Map<string, string>();
  for (const c of d.calls as Row[]) own.set(String(c.id), 'LLM calls · this session');
  const kids = await Promise.all(d.children.map((k) => detailOf(k.id).catch(() => undefined)));
  d.children.forEach((k, i) => {
    for (const c of (kids[i]?.calls as Row[] | undefined) ?? [])
      own.set(String(c.id), `sub-agent · ${k.title ?? k.id}`);
  });
  const procs = await withSubagentProcesses(d);
  const rids = new Set(procs.map((p) => p.rid));
  const pids = new Set(procs.map((p) => p.pid));
  const info = h('span', { class: 'muted small' });
  const svgBox = h('div', { class: 'tl-box' });
  const draw = async () => {
    const t = await api<Row>('timeline', { from: Math.round(from), to: Math.round(to), buckets: 300 });
    const data = {
      ...t,
      calls: (t.calls as Row[]).filter((c) => own.has(String(c.id))),
      processes: (t.processes as Row[]).filter((p) => rids.has(p.rid)),
      activity: (t.activity as Row[]).filter((a) => pids.has(a.pid)),
      alerts: ((t.alerts as Row[]) ?? []).filter((a) => a.pid == null || pids.has(a.pid)),
    };
    drawTimeline(svgBox, info, data, t.from, t.to, {
      zoom(factor, frac) {
        const span = to - from;
        const c = from + span * frac;
        const ns = Math.max(1000, span * factor);
        from = c - ns * frac;
        to = from + ns;
        void draw();
      },
      pan(dt) {
        from -= dt;
        to -= dt;
        void draw();
      },
      lane: (c) => {
        const label = own.get(String(c.id)) ?? `pid ${c.pid}`;
        return { key: label, label };
      },
      openCall: onCall,
    });
  };
  box.append(
    h(
      'div',
      { class: 'filters' },
      h('button', { type: 'button', title: 'zoom in', onclick: () => svgBox.querySelector('svg') && zoomBy(0.5) }, '+'),
      h('button', { type: 'button', title: 'zoom out', onclick: () => zoomBy(2) }, '−'),
      h(
        'button',
        {
          type: 'button',
          onclick: () => {
            from = s.start - pad;
            to = s.end + pad;
            void draw();
          },
        },
        'whole session',
      ),
      info,
    ),
    svgBox,
  );
  const zoomBy = (f: number) => {
    const c = (from + to) / 2;
    const ns = Math.max(1000, (to - from) * f);
    from = c - ns / 2;
    to = c + ns / 2;
    void draw();
  };
  await draw();
}

/**
 * The session's processes and its sub-agents' (down the tree): a sub-agent's tools run
 * inside the parent's work, so the parent's tree shows them too.
 */
async function withSubagentProcesses(d: SessionDetail, depth = 0): Promise<Row[]> {
  const out = new Map<number, Row>();
  for (const p of d.processes as Row[]) out.set(p.rid, p);
  if (depth < MAX_NEST)
    for (const k of d.children) {
      const kd = await detailOf(k.id).catch(() => undefined);
      if (kd) for (const p of await withSubagentProcesses(kd, depth + 1)) out.set(p.rid, p);
    }
  return [...out.values()].sort((a, b) => a.start_ts - b.start_ts || a.rid - b.rid);
}

async function processesOf(box: HTMLElement, d: SessionDetail): Promise<void> {
  const rows = await withSubagentProcesses(d);
  if (!rows.length) {
    box.appendChild(h('div', { class: 'empty' }, 'No process events for this session (as-proc was not running).'));
    return;
  }
  const { roots, kids } = buildTree(rows);
  const tree = h('div', { class: 'tree' });
  for (const r of roots) {
    const n = processNode(r, kids, 0, '', (rid) => navigate('/processes', { rid }));
    if (n) tree.appendChild(n);
  }
  box.appendChild(tree);
}

export function session(): View {
  return {
    async render(root, params) {
      const id = params.get('id') ?? '';
      const side = h('aside', { class: 'ssidebar' });
      const mainBox = h('div', { class: 'sdetail' });
      const back = new URLSearchParams();
      for (const [k, v] of Object.entries(filtersOf(params))) if (v) back.set(k, v);
      back.set('sel', id);
      side.append(h('a', { href: `/sessions?${back}`, class: 'small back' }, '← all sessions'));
      if (filtersOf(params).q) side.append(h('div', { class: 'muted small' }, `search: “${params.get('q')}”`));
      const listBox = h('div', { class: 'sidelist' });
      side.appendChild(listBox);
      root.appendChild(h('div', { class: 'slayout' }, side, mainBox));
      details.clear();
      const listDone = sessionList(listBox, params, id, true).catch((e) => listBox.appendChild(errorBox(e)));
      if (!id) {
        mainBox.appendChild(h('div', { class: 'empty' }, 'Select a session.'));
        await listDone;
        return;
      }
      let d: SessionDetail;
      try {
        d = await detailOf(id);
      } catch (e) {
        mainBox.appendChild(errorBox(e));
        await listDone;
        return;
      }
      const s = d.session;
      const head = h(
        'div',
        { class: 'shead' },
        h(
          'h2',
          { class: 'stitle' },
          s.parent ? h('span', { class: 'tag sub' }, 'sub-agent') : null,
          ' ',
          s.title ? clipLine(s.title, 200, '') : h('span', { class: 'muted' }, '(no prompt)'),
        ),
        summaryLine(s),
        h(
          'div',
          { class: 'muted small' },
          `${fmtTime(s.start, true)} – ${fmtTime(s.end)} (${fmtDur((s.end - s.start) / 1000)})`,
          s.host ? ` · host ${s.host}` : '',
          s.pid != null ? ` · pid ${s.pid}` : '',
          ' · ',
          h('span', { class: 'mono' }, s.id),
        ),
        d.run?.command
          ? h('div', { class: 'small run' }, h('span', { class: 'muted' }, 'run: '), clipLine(d.run.command, 160))
          : null,
        s.parent
          ? h(
              'div',
              { class: 'small' },
              'started by ',
              h('a', { href: href('/session', { id: s.parent.session }) }, 'its parent session'),
              s.parent.toolCall ? ` (tool call ${s.parent.toolCall})` : '',
            )
          : null,
      );
      const tabBar = h('div', { class: 'tabs' });
      const panel = h('div', { class: 'tabpanel' });
      mainBox.append(head, tabBar, panel);
      const show = async (tab: Tab) => {
        setParams({ tab: tab === 'conversation' ? undefined : tab });
        for (const a of tabBar.querySelectorAll('button')) a.classList.toggle('active', a.dataset.tab === tab);
        clear(panel);
        try {
          if (tab === 'conversation') {
            const al = alertList(await alertsOf(d));
            if (al) panel.appendChild(al);
            await conversationOf(panel, d, 0);
          } else if (tab === 'timeline')
            await timelineOf(panel, d, (c) => {
              void show('conversation').then(() => document.getElementById(`call-${c.id}`)?.scrollIntoView());
            });
          else await processesOf(panel, d);
        } catch (e) {
          panel.appendChild(errorBox(e));
        }
      };
      for (const t of TABS)
        tabBar.appendChild(
          h(
            'button',
            { type: 'button', 'data-tab': t, onclick: () => void show(t) },
            t === 'conversation' ? `Conversation (${s.calls})` : t === 'processes' ? 'Processes' : 'Timeline',
          ),
        );
      const want = params.get('tab') as Tab | null;
      await Promise.all([show(want && TABS.includes(want) ? want : 'conversation'), listDone]);
    },
  };
}
