import { api, argvText, clear, errorBox, fmtDur, fmtTime, h, s } from '../dom.js';
import type { View } from '../router.js';
import { navigate, setParams } from '../router.js';
import { fmtTimeTick, timeTicks } from '../scale.js';
import { buildTree } from './processes.js';

type Row = Record<string, any>;

const LABEL_W = 300;
const ROW_H = 20;
const MAX_ROWS = 400;

export interface TimelineOptions {
  zoom(factor: number, centerFrac: number): void;
  pan(dtUs: number): void;
  /** The row an LLM call is drawn on (default: one per agent pid) and its label. */
  lane?(c: Row): { key: string; label: string };
  /** Where a click on a call leads (default: that agent's Conversations). */
  openCall?(c: Row): void;
}

/** Draw calls, process lifetimes, activity and alerts of `d` over [from, to] into `box`. */
export function drawTimeline(
  box: HTMLElement,
  info: HTMLElement,
  d: Row,
  from: number,
  to: number,
  opts: TimelineOptions,
): void {
  const width = Math.max(700, box.clientWidth || 1200);
  const plotW = width - LABEL_W - 10;
  const x = (t: number) => LABEL_W + ((t - from) / (to - from)) * plotW;
  const clampX = (t: number) => Math.max(LABEL_W, Math.min(LABEL_W + plotW, x(t)));
  const calls = d.calls as Row[];
  const laneOf = opts.lane ?? ((c: Row) => ({ key: `pid:${c.pid}`, label: `LLM calls · pid ${c.pid}` }));
  // Lanes of calls, in order of their first call; each sits above its agent's process row.
  const lanes = new Map<string, { label: string; pid: number; calls: Row[] }>();
  for (const c of calls) {
    const l = laneOf(c);
    const lane = lanes.get(l.key) ?? { label: l.label, pid: c.pid as number, calls: [] as Row[] };
    lane.calls.push(c);
    lanes.set(l.key, lane);
  }
  const agents = [...new Set(calls.map((c) => c.pid))];
  const { roots, kids } = buildTree(d.processes as Row[]);
  const order: Array<[Row, number]> = [];
  const walk = (r: Row, depth: number) => {
    if (order.length >= MAX_ROWS) return;
    order.push([r, depth]);
    for (const k of kids.get(r) ?? []) walk(k, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  const agentSet = new Set(agents);
  const underAgent = new Set<Row>();
  const mark = (r: Row, inside: boolean) => {
    if (inside) underAgent.add(r);
    for (const k of kids.get(r) ?? []) mark(k, inside || agentSet.has(r.pid));
  };
  for (const r of roots) mark(r, false);
  const act = new Map<number, Row[]>();
  for (const a of d.activity as Row[]) {
    const l = act.get(a.pid) ?? [];
    l.push(a);
    act.set(a.pid, l);
  }

  // Each agent's LLM calls sit right above its own process row; agents never seen as a
  // process (no as-proc in the pipeline) come first.
  const agentRow = new Set<number>();
  for (const [r] of order) if (agentSet.has(r.pid) && !agentRow.has(r.pid)) agentRow.add(r.pid);
  const rows = lanes.size + order.length;
  const height = 30 + rows * ROW_H + 10;
  const svg = s('svg', { width, height, class: 'tl', viewBox: `0 0 ${width} ${height}` });
  // Time axis.
  const tt = timeTicks(from, to, Math.max(4, Math.floor(plotW / 120)));
  for (const t of tt.ticks) {
    svg.appendChild(s('line', { x1: x(t), x2: x(t), y1: 22, y2: height, class: 'grid' }));
    svg.appendChild(s('text', { x: x(t) + 2, y: 14, class: 'axis' }, fmtTimeTick(t, tt.step, to - from)));
  }
  let y = 30;
  const laneRow = (lane: { label: string; calls: Row[] }, depth: number) => {
    const lbl = lane.label.length > 40 - depth ? `${lane.label.slice(0, 38 - depth)}…` : lane.label;
    svg.appendChild(
      s('text', { x: 4 + Math.min(depth, 12) * 10, y: y + 14, class: 'lbl agent' }, lbl, s('title', {}, lane.label)),
    );
    for (const c of lane.calls) {
      const x0 = clampX(c.start_ts);
      const x1 = Math.max(x0 + 2, clampX(c.end_ts ?? c.start_ts));
      const tip = `${c.model ?? '?'} · ${fmtDur(c.duration_ms)} · TTFT ${fmtDur(c.ttft_ms)} · ${c.input_tokens ?? '?'}→${c.output_tokens ?? '?'} tok${(c.tool_calls ?? []).length ? ` · tools: ${c.tool_calls.map((t: Row) => t.name).join(', ')}` : ''}`;
      const g = s('g', { class: 'call-bar', 'data-call': c.id });
      g.appendChild(s('rect', { x: x0, y: y + 3, width: x1 - x0, height: ROW_H - 6, rx: 2, class: `llm ${c.state}` }));
      if (c.ttft_ms != null)
        g.appendChild(
          s('rect', {
            x: x0,
            y: y + 3,
            width: Math.max(1, Math.min(x1 - x0, ((c.ttft_ms * 1000) / (to - from)) * plotW)),
            height: ROW_H - 6,
            class: 'ttft',
          }),
        );
      if ((c.tool_calls ?? []).length)
        g.appendChild(s('circle', { cx: x1, cy: y + ROW_H / 2, r: 4, class: 'toolmark' }));
      g.appendChild(s('title', {}, tip));
      g.addEventListener('click', () =>
        opts.openCall ? opts.openCall(c) : navigate('/conversations', { pid: c.pid }),
      );
      svg.appendChild(g);
    }
    y += ROW_H;
  };
  const callRow = (pid: number, depth: number) => {
    for (const lane of lanes.values()) if (lane.pid === pid) laneRow(lane, depth);
  };
  for (const pid of agents) if (!agentRow.has(pid)) callRow(pid, 0);
  for (const [r, depth] of order) {
    if (agentRow.has(r.pid)) {
      callRow(r.pid, depth);
      agentRow.delete(r.pid);
    }
    const label = argvText(r.argv, r.comm ?? '?');
    svg.appendChild(
      s(
        'text',
        { x: 4 + Math.min(depth, 12) * 10, y: y + 14, class: 'lbl' },
        label.length > 40 - depth ? label.slice(0, 38 - depth) + '…' : label,
      ),
    );
    const x0 = clampX(r.start_ts);
    const x1 = Math.max(x0 + 2, clampX(r.end_ts ?? to));
    const cls = agentSet.has(r.pid) ? 'agent' : underAgent.has(r) ? 'tool' : 'other';
    const failed = r.end_ts && (r.exit_code ?? 0) !== 0;
    const g = s('g', { class: 'proc-bar', 'data-rid': r.rid });
    g.appendChild(
      s('rect', {
        x: x0,
        y: y + 4,
        width: x1 - x0,
        height: ROW_H - 8,
        rx: 2,
        class: `proc ${cls} ${failed ? 'failed' : ''} ${r.end_ts ? '' : 'running'}`,
      }),
    );
    for (const a of act.get(r.pid) ?? []) {
      const ax = LABEL_W + ((a.b * d.bucket_us) / (to - from)) * plotW;
      if (ax < LABEL_W || ax > LABEL_W + plotW) continue;
      const hh = Math.min(ROW_H - 4, 3 + Math.log2(1 + a.n) * 2);
      g.appendChild(s('rect', { x: ax, y: y + ROW_H - 2 - hh, width: 2, height: hh, class: `act ${a.type}` }));
    }
    g.appendChild(
      s(
        'title',
        {},
        `${label}\npid ${r.pid} · ${r.end_ts ? `exit ${r.exit_code ?? '?'} after ${fmtDur((r.end_ts - r.start_ts) / 1000)}` : 'running'} · ${r.opens} files · ${r.conns} net`,
      ),
    );
    g.addEventListener('click', () => navigate('/processes', { rid: r.rid }));
    svg.appendChild(g);
    y += ROW_H;
  }
  // Correlation alerts: a marker on the time axis, the message on hover, a click to the event.
  for (const a of (d.alerts as Row[] | undefined) ?? []) {
    const ax = x(a.ts);
    if (ax < LABEL_W || ax > LABEL_W + plotW) continue;
    const g = s(
      'g',
      { class: `alert-mark sev-${a.severity}` },
      s('path', { d: `M${ax - 5},18 L${ax + 5},18 L${ax},27 Z` }),
      s('title', {}, `${a.severity} ${a.rule}: ${a.message}`),
    );
    g.addEventListener('click', () => navigate('/events', { src: 'trace', type: 'alert', from: a.ts, to: a.ts }));
    svg.appendChild(g);
  }
  clear(box);
  box.appendChild(svg);
  clear(info);
  info.append(
    `${fmtTime(from, true)} – ${fmtTime(to)} (${fmtDur((to - from) / 1000)})${order.length >= MAX_ROWS ? ` · first ${MAX_ROWS} processes` : ''} · `,
    h('a', { href: `/events?from=${Math.round(from)}&to=${Math.round(to)}` }, 'events in this range'),
  );

  // Wheel zooms around the pointer, drag pans.
  svg.addEventListener(
    'wheel',
    (e) => {
      e.preventDefault();
      const frac = Math.max(0, Math.min(1, (e.offsetX - LABEL_W) / plotW));
      opts.zoom(e.deltaY > 0 ? 1.25 : 0.8, frac);
    },
    { passive: false },
  );
  let dragX: number | undefined;
  svg.addEventListener('mousedown', (e) => {
    dragX = e.clientX;
  });
  window.onmouseup = (e) => {
    if (dragX === undefined) return;
    const dx = e.clientX - dragX;
    dragX = undefined;
    if (Math.abs(dx) < 3) return;
    opts.pan((dx / plotW) * (to - from));
  };
}

export function timeline(): View {
  let box: HTMLElement;
  let info: HTMLElement;
  let from = 0;
  let to = 0;
  let full: { lo: number; hi: number } | undefined;
  let timer: number | undefined;
  let drawing = false;
  let session: string | undefined;
  const titles = new Map<string, string>();

  function reload(delay = 120) {
    clearTimeout(timer);
    timer = window.setTimeout(() => {
      setParams({ from: Math.round(from), to: Math.round(to) });
      void draw();
    }, delay);
  }

  function zoom(factor: number, centerFrac = 0.5) {
    const span = to - from;
    const c = from + span * centerFrac;
    const ns = Math.max(1000, span * factor);
    from = c - ns * centerFrac;
    to = from + ns;
    reload();
  }

  async function draw() {
    if (drawing) return;
    drawing = true;
    try {
      const d = await api<Row>('timeline', {
        from: from ? Math.round(from) : undefined,
        to: to ? Math.round(to) : undefined,
        buckets: 300,
        session,
      });
      if (d.span?.lo != null) full = { lo: d.span.lo, hi: d.span.hi };
      from = d.from;
      to = d.to;
      render(d);
    } catch (e) {
      clear(box);
      box.appendChild(errorBox(e));
    } finally {
      drawing = false;
    }
  }

  function render(d: Row) {
    drawTimeline(box, info, d, from, to, {
      zoom,
      // A lane per agent session (not per pid); a click opens the session.
      lane: (c) =>
        c.session
          ? { key: c.session, label: `LLM calls · ${titles.get(c.session) ?? String(c.session).slice(0, 18)}` }
          : { key: `pid:${c.pid}`, label: `LLM calls · pid ${c.pid}` },
      openCall: (c) =>
        c.session ? navigate('/session', { id: c.session }) : navigate('/conversations', { pid: c.pid }),
      pan(dt) {
        from -= dt;
        to -= dt;
        reload(0);
      },
    });
  }

  return {
    async render(root, p) {
      session = p.get('session') ?? undefined;
      const picker = h(
        'select',
        { name: 'session', 'aria-label': 'session', title: 'show one session' },
        h('option', { value: '' }, 'all sessions'),
      );
      picker.addEventListener('change', () => navigate('/timeline', { session: picker.value }));
      try {
        const page = await api<{ sessions: Row[] }>('sessions', { limit: 100 });
        for (const x of page.sessions) {
          const title = String(x.title ?? x.id);
          titles.set(x.id, title.length > 40 ? `${title.slice(0, 39)}…` : title);
        }
        if (session && !titles.has(session)) titles.set(session, session);
        for (const [id, title] of titles)
          picker.appendChild(h('option', { value: id, selected: id === session }, `${title}`));
      } catch {
        /* the picker is a convenience; the timeline works without it */
      }
      from = p.has('from') ? Number(p.get('from')) : 0;
      to = p.has('to') ? Number(p.get('to')) : 0;
      info = h('span', { class: 'muted' });
      const bar = h(
        'div',
        { class: 'filters' },
        picker,
        h('button', { type: 'button', onclick: () => zoom(0.5), title: 'zoom in' }, '+'),
        h('button', { type: 'button', onclick: () => zoom(2), title: 'zoom out' }, '−'),
        h(
          'button',
          {
            type: 'button',
            onclick: () => {
              from = full?.lo ?? 0;
              to = full?.hi ?? 0;
              reload(0);
            },
          },
          'all',
        ),
        h(
          'span',
          { class: 'legend' },
          h('i', { class: 'sw llm' }),
          'LLM call (dark: until first token) ',
          h('i', { class: 'sw tool' }),
          'tool process ',
          h('i', { class: 'sw agent' }),
          'agent ',
          h('i', { class: 'sw failed' }),
          'failed ',
          h('i', { class: 'sw open' }),
          'files ',
          h('i', { class: 'sw connect' }),
          'network',
        ),
        info,
      );
      box = h('div', { class: 'tl-box' });
      root.append(
        bar,
        h('div', { class: 'muted small' }, 'Scroll to zoom, drag to pan, click a bar for details.'),
        box,
      );
      await draw();
    },
    async live() {
      // Follow the end of the capture unless the user has zoomed into the past.
      const atEnd = !full || to >= full.hi - 1;
      if (!atEnd) return;
      const span = to - from;
      const wasAll = full && from <= full.lo;
      const st = await api<Row>('stats');
      if (st.last_ts == null) return;
      to = st.last_ts;
      if (wasAll) from = st.first_ts;
      else from = to - span;
      await draw();
    },
  };
}
