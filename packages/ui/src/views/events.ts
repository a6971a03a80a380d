import { api, argvText, clear, errorBox, fmtTime, h, jsonTree } from '../dom.js';
import type { View } from '../router.js';
import { navigate, setParams } from '../router.js';

type Row = Record<string, any>;
const SOURCES = ['', 'llm', 'http', 'proc', 'stdio', 'ssl', 'mcp', 'trace', 'meta'];
const FILTERS = ['src', 'type', 'pid', 'q', 'from', 'to'] as const;
const MAX_LIVE_ROWS = 5000;

/** One line that says what an event is about. */
export function summary(e: Row): string {
  const cut = (s: unknown, n = 140) => {
    const t = String(s ?? '').replace(/\s+/g, ' ');
    return t.length > n ? t.slice(0, n) + '…' : t;
  };
  switch (`${e.src}/${e.type}`) {
    case 'llm/call':
      return `${e.model ?? '?'} · ${e.usage?.input_tokens ?? '?'}→${e.usage?.output_tokens ?? '?'} tok · ${cut(e.response?.text, 80)}${e.response?.tool_calls?.length ? ` · tools: ${e.response.tool_calls.map((t: Row) => t.name).join(', ')}` : ''}`;
    case 'llm/delta':
      return `${e.kind}: ${cut(e.text)}`;
    case 'proc/exec':
    case 'proc/snapshot':
      return argvText(e.argv, e.filename);
    case 'proc/fork':
      return `fork from ${e.ppid}`;
    case 'proc/exit':
      return e.signal
        ? `killed by signal ${e.signal}`
        : `exit ${e.exit_code ?? '?'}${e.duration_ms != null ? ` after ${e.duration_ms} ms` : ''}`;
    case 'proc/open':
      return `${e.path}${e.ret < 0 ? ` (error ${e.ret})` : ''}${e.count ? ` ×${e.count + 1}` : ''}`;
    case 'proc/connect':
    case 'proc/bind':
    case 'proc/listen':
      return `${e.family} ${e.addr ?? ''}${e.port != null ? ':' + e.port : ''}${e.ret < 0 && e.ret !== -115 ? ` (error ${e.ret})` : ''}`;
    case 'proc/unlink':
    case 'proc/rename':
      return `${e.path}${e.to ? ' → ' + e.to : ''}`;
    case 'proc/metrics':
      return `cpu ${e.cpu_pct}% · rss ${(e.rss_kb / 1024).toFixed(1)} MiB · ${e.threads} threads`;
    case 'http/request':
      return `${e.method} ${e.host ?? ''}${e.path}`;
    case 'http/response':
      return `${e.status} ${e.reason ?? ''} · ${e.latency_ms} ms${e.sse_count ? ` · ${e.sse_count} SSE` : ''}`;
    case 'http/sse':
      return `${e.event ?? 'message'}: ${cut(e.data)}`;
    case 'ssl/data':
    case 'stdio/data':
      return `${e.dir} ${e.len} B${e.fd !== undefined ? ` fd ${e.fd}` : ''}: ${e.enc === 'base64' ? '(binary)' : cut(e.data)}`;
    case 'mcp/call':
      return `${e.method}${e.tool ? ' ' + e.tool : ''}${e.error ? ' (error)' : ''}`;
    case 'trace/link':
      return `${e.kind}: ${e.from} → ${JSON.stringify(e.to)} (${e.confidence})`;
    case 'trace/alert':
      return `${e.severity}: ${e.message}`;
  }
  return e.tool ? `${e.tool}` : '';
}

export function events(): View {
  let params: URLSearchParams;
  let table: HTMLTableSectionElement;
  let pane: HTMLElement;
  let next: string | null = null;
  let lastId = 0;
  let more: HTMLElement;

  const query = () => {
    const q: Record<string, string | undefined> = {};
    for (const k of FILTERS) q[k] = params.get(k) ?? undefined;
    return q;
  };

  function row(e: Row): HTMLElement {
    const tr = h(
      'tr',
      { 'data-id': e._id, class: `src-${e.src}`, onclick: () => void select(e._id) },
      h('td', { class: 'mono muted' }, fmtTime(e.ts)),
      h('td', null, h('span', { class: `tag src-${e.src}` }, `${e.src}/${e.type}`)),
      h('td', { class: 'mono' }, e.pid ?? ''),
      h('td', { class: 'mono' }, e.comm ?? ''),
      h('td', { class: 'sum' }, summary(e)),
    );
    return tr;
  }

  async function select(id: number) {
    setParams({ id });
    for (const tr of table.querySelectorAll('tr.sel')) tr.classList.remove('sel');
    table.querySelector(`tr[data-id="${id}"]`)?.classList.add('sel');
    clear(pane);
    try {
      const ev = await api<Row>(`events/${id}`);
      pane.appendChild(
        h(
          'div',
          { class: 'pane-head' },
          h('b', null, `${ev.src}/${ev.type}`),
          ` #${id} · ${fmtTime(ev.ts, true)}`,
          ev.pid ? h('a', { href: `/events?pid=${ev.pid}`, class: 'small' }, ` all of pid ${ev.pid}`) : null,
        ),
      );
      if (typeof ev.data === 'string' && ev.enc === 'base64') {
        // Bytes as text where they are printable, \xNN where not: what was on the wire.
        const bytes = Uint8Array.from(atob(ev.data), (c) => c.charCodeAt(0));
        let txt = '';
        for (const b of bytes)
          txt +=
            b === 10 || b === 13 || b === 9 || (b >= 32 && b < 127)
              ? String.fromCharCode(b)
              : `\\x${b.toString(16).padStart(2, '0')}`;
        pane.appendChild(
          h(
            'details',
            { open: true },
            h('summary', null, `payload, ${bytes.length} bytes (decoded)`),
            h('pre', { class: 'out' }, txt),
          ),
        );
      }
      pane.appendChild(jsonTree(ev, 3));
    } catch (e) {
      pane.appendChild(errorBox(e));
    }
  }

  async function load(append: boolean) {
    const page = await api<{ events: Row[]; next: string | null; last_id: number }>('events', {
      ...query(),
      limit: 200,
      cursor: append ? next : undefined,
    });
    if (!append) lastId = page.last_id;
    for (const e of page.events) table.appendChild(row(e));
    next = page.next;
    more.hidden = !next;
  }

  return {
    async render(root, p) {
      params = p;
      const form = h(
        'form',
        {
          class: 'filters',
          onsubmit: (ev: Event) => {
            ev.preventDefault();
            const fd = new FormData(ev.target as HTMLFormElement);
            const q: Record<string, string> = {};
            for (const k of FILTERS) {
              const v = String(fd.get(k) ?? '').trim();
              if (v) q[k] = v;
            }
            navigate('/events', q);
          },
        },
        h(
          'label',
          null,
          'src ',
          h(
            'select',
            { name: 'src' },
            SOURCES.map((s) => h('option', { value: s, selected: (p.get('src') ?? '') === s }, s || 'any')),
          ),
        ),
        h(
          'label',
          null,
          'type ',
          h('input', { name: 'type', value: p.get('type') ?? '', placeholder: 'exec,open or proc/exec', size: 14 }),
        ),
        h('label', null, 'pid ', h('input', { name: 'pid', value: p.get('pid') ?? '', size: 7, inputmode: 'numeric' })),
        h(
          'label',
          null,
          'text ',
          h('input', { name: 'q', value: p.get('q') ?? '', placeholder: 'search', size: 18, type: 'search' }),
        ),
        h('input', { type: 'hidden', name: 'from', value: p.get('from') ?? '' }),
        h('input', { type: 'hidden', name: 'to', value: p.get('to') ?? '' }),
        p.get('from') || p.get('to')
          ? h(
              'span',
              { class: 'small muted' },
              `${fmtTime(Number(p.get('from')) || null)} – ${fmtTime(Number(p.get('to')) || null)}`,
            )
          : null,
        h('button', { type: 'submit' }, 'filter'),
        h('a', { href: '/events', class: 'small' }, 'clear'),
      );
      table = h('tbody');
      more = h('button', { class: 'more', onclick: () => void load(true) }, 'more events');
      pane = h('aside', { class: 'pane' }, h('div', { class: 'muted' }, 'Select an event to see all its fields.'));
      const log = h(
        'div',
        { class: 'log' },
        h(
          'table',
          { class: 'events' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'time'),
              h('th', null, 'event'),
              h('th', null, 'pid'),
              h('th', null, 'comm'),
              h('th', null, 'summary'),
            ),
          ),
          table,
        ),
        more,
      );
      root.append(form, h('div', { class: 'split events-split' }, log, pane));
      try {
        await load(false);
      } catch (e) {
        root.insertBefore(errorBox(e), form.nextSibling);
      }
      if (p.get('id')) await select(Number(p.get('id')));
    },
    async live() {
      // Only when the whole (filtered) log is on screen: new events go at its end.
      if (next) return;
      const page = await api<{ events: Row[]; last_id: number }>('events', {
        ...query(),
        after_id: lastId,
        limit: 1000,
      });
      for (const e of page.events) table.appendChild(row(e));
      // Following a busy capture: keep the page light, the oldest rows go (they are a query away).
      while (table.rows.length > MAX_LIVE_ROWS) table.deleteRow(0);
      lastId = page.events.length
        ? Math.max(lastId, ...page.events.map((e) => e._id as number))
        : Math.max(lastId, page.last_id);
    },
  };
}
