// The landing page: agent sessions, found by full-text search (prompts, responses, tool
// arguments, commands, paths) and narrowed by filters, a page at a time. The URL holds the
// search, the filters and the selected session, so a view can be shared and Back returns to
// the same list with the same session highlighted. The list is also the session page's sidebar.
import type { SessionPage, SessionRow } from '@agentsight/serve';
import { api, clear, errorBox, fmtDur, fmtNum, fmtTime, h } from '../dom.js';
import type { View } from '../router.js';
import { navigate } from '../router.js';
import { fmtValue } from '../scale.js';

/** The URL parameters that are filters (SessionFilter's fields), in the form's order. */
export const FILTER_KEYS = [
  'q',
  'agent',
  'model',
  'provider',
  'tool',
  'host',
  'status',
  'alerts',
  'from',
  'to',
] as const;

export type Filters = Partial<Record<(typeof FILTER_KEYS)[number], string>>;

export function filtersOf(params: URLSearchParams): Filters {
  const f: Filters = {};
  for (const k of FILTER_KEYS) {
    const v = params.get(k);
    if (v) f[k] = v;
  }
  return f;
}

const HOUR = 3600e6;
const RANGES: Array<[string, number]> = [
  ['last hour', HOUR],
  ['last 24 h', 24 * HOUR],
  ['last 7 days', 7 * 24 * HOUR],
  ['last 30 days', 30 * 24 * HOUR],
];

/** µs since the epoch → the value of a datetime-local input (local time). */
function toLocalInput(us: string | undefined): string {
  if (!us || !/^\d+$/.test(us)) return '';
  const d = new Date(Number(us) / 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function fromLocalInput(v: string): string {
  const ms = v ? new Date(v).getTime() : Number.NaN;
  return Number.isFinite(ms) ? String(ms * 1000) : '';
}

/** Values seen in the store for the filter inputs' suggestions (from the overview). */
async function suggestions(): Promise<Record<string, string[]>> {
  try {
    const o = await api<Record<string, any>>('overview');
    const uniq = (l: unknown[]) => [...new Set(l.filter((x): x is string => typeof x === 'string' && !!x))].sort();
    return {
      agent: uniq((o.byAgent ?? []).map((r: any) => r.agent)),
      model: uniq((o.byModel ?? []).map((r: any) => r.model)),
      provider: uniq((o.byModel ?? []).map((r: any) => r.provider)),
      tool: uniq((o.topTools ?? []).map((r: any) => r.tool)),
    };
  } catch {
    return {};
  }
}

/** The search box and filters; submitting goes to `path` with them (and `keep` kept). */
export function filterForm(
  path: string,
  params: URLSearchParams,
  keep: Record<string, string> = {},
  search = true,
): HTMLElement {
  const f = filtersOf(params);
  const text = (name: string, label: string, size = 12) =>
    h(
      'label',
      { class: 'fl' },
      h('span', { class: 'muted small' }, label),
      h('input', { name, value: f[name as keyof Filters] ?? '', size, list: `dl-${name}`, autocomplete: 'off' }),
      h('datalist', { id: `dl-${name}` }),
    );
  const form = h(
    'form',
    { class: 'filters sfilters', role: 'search' },
    search
      ? h('input', {
          name: 'q',
          type: 'search',
          class: 'q',
          value: f.q ?? '',
          placeholder: 'Search prompts, responses, tool arguments, commands, paths…',
          'aria-label': 'search',
        })
      : null,
    search ? h('button', { type: 'submit' }, 'Search') : null,
    h(
      'div',
      { class: 'frow' },
      text('agent', 'agent', 10),
      text('model', 'model', 14),
      text('provider', 'provider', 9),
      text('tool', 'tool', 9),
      text('host', 'host', 9),
      h(
        'label',
        { class: 'fl' },
        h('span', { class: 'muted small' }, 'status'),
        h(
          'select',
          { name: 'status' },
          h('option', { value: '' }, 'any'),
          h('option', { value: 'ok', selected: f.status === 'ok' }, 'ok'),
          h('option', { value: 'error', selected: f.status === 'error' }, 'with errors'),
        ),
      ),
      h(
        'label',
        { class: 'fl check' },
        h('input', { type: 'checkbox', name: 'alerts', value: '1', checked: !!f.alerts }),
        h('span', { class: 'small' }, 'with alerts'),
      ),
    ),
    h(
      'div',
      { class: 'frow when' },
      h(
        'label',
        { class: 'fl' },
        h('span', { class: 'muted small' }, 'from'),
        h('input', { type: 'datetime-local', name: 'from', value: toLocalInput(f.from) }),
      ),
      h(
        'label',
        { class: 'fl' },
        h('span', { class: 'muted small' }, 'to'),
        h('input', { type: 'datetime-local', name: 'to', value: toLocalInput(f.to) }),
      ),
      h(
        'select',
        { name: '_range', title: 'time range', 'aria-label': 'time range' },
        h('option', { value: '' }, 'any time'),
        RANGES.map(([label, us]) => h('option', { value: String(us) }, label)),
      ),
      search ? null : h('button', { type: 'submit' }, 'Apply'),
      Object.keys(f).length ? h('a', { href: path, class: 'small' }, 'clear') : null,
    ),
  );
  const submit = () => {
    const fd = new FormData(form);
    const out: Record<string, string> = { ...keep };
    for (const k of FILTER_KEYS) {
      const v = String(fd.get(k) ?? '').trim();
      if (!v) continue;
      out[k] = k === 'from' || k === 'to' ? fromLocalInput(v) : v;
    }
    const range = Number(fd.get('_range') || 0);
    if (range) {
      out.from = String(Date.now() * 1000 - range);
      delete out.to;
    }
    navigate(path, out);
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  // Choices apply at once; text fields on Enter.
  for (const el of form.querySelectorAll('select, input[type=checkbox]')) el.addEventListener('change', submit);
  void suggestions().then((sug) => {
    for (const [k, vals] of Object.entries(sug)) {
      const dl = form.querySelector(`#dl-${k}`);
      if (dl) for (const v of vals.slice(0, 200)) dl.appendChild(h('option', { value: v }));
    }
  });
  return form;
}

/** A snippet with the match (between \u0002 and \u0003) in <mark>, through text nodes only. */
function snippet(s: string): HTMLElement {
  const el = h('div', { class: 'snippet small' });
  // STX opens a match, ETX closes it (the store's FTS5 snippet markers).
  s.split('\u0002').forEach((piece, i) => {
    const end = i ? piece.indexOf('\u0003') : -1;
    if (end < 0) el.append(piece);
    else el.append(h('mark', null, piece.slice(0, end)), piece.slice(end + 1));
  });
  return el;
}

/** The link to a session's page, carrying the list's filters so its sidebar is the same list. */
export function sessionHref(id: string, params: URLSearchParams): string {
  const qs = new URLSearchParams();
  qs.set('id', id);
  for (const [k, v] of Object.entries(filtersOf(params))) if (v) qs.set(k, v);
  return `/session?${qs}`;
}

export function sessionItem(s: SessionRow, params: URLSearchParams, selected: boolean, compact: boolean): HTMLElement {
  const tokens = (s.tokensIn ?? 0) + (s.tokensOut ?? 0);
  const dur = s.end && s.start ? fmtDur((s.end - s.start) / 1000) : '';
  return h(
    'a',
    {
      class: `srow ${selected ? 'sel' : ''} ${s.parent ? 'sub' : ''} ${s.errors ? 'has-err' : ''}`,
      href: sessionHref(s.id, params),
      'data-id': s.id,
      'aria-current': selected ? 'true' : null,
    },
    h(
      'div',
      { class: 'st' },
      s.parent ? h('span', { class: 'tag sub' }, 'sub-agent') : null,
      h('span', { class: 'title' }, s.title || h('span', { class: 'muted' }, '(no prompt)')),
    ),
    s.snippet ? snippet(s.snippet) : null,
    h(
      'div',
      { class: 'meta small' },
      h('span', { class: 'tag agent' }, s.agent ?? 'agent?'),
      compact
        ? null
        : h(
            'span',
            { class: 'muted' },
            s.models.slice(0, 2).join(', ') + (s.models.length > 2 ? ` +${s.models.length - 2}` : ''),
          ),
      h('span', null, `${s.calls} call${s.calls === 1 ? '' : 's'}`),
      compact ? null : h('span', null, `${s.toolCalls} tool calls`),
      h('span', null, `${fmtNum(tokens)} tok`),
      s.cost != null ? h('span', null, fmtValue(s.cost, 'usd')) : null,
      s.errors ? h('span', { class: 'badge bad' }, `${s.errors} error${s.errors > 1 ? 's' : ''}`) : null,
      s.alerts ? h('span', { class: 'badge warn' }, `${s.alerts} alert${s.alerts > 1 ? 's' : ''}`) : null,
      s.children?.length && !compact
        ? h('span', { class: 'muted' }, `${s.children.length} sub-agent${s.children.length > 1 ? 's' : ''}`)
        : null,
    ),
    h(
      'div',
      { class: 'when muted small' },
      fmtTime(s.start, true).slice(0, 16),
      dur ? ` · ${dur}` : '',
      s.host && !compact ? ` · ${s.host}` : '',
      compact ? null : h('span', { class: 'sid' }, ` · ${s.id}`),
    ),
  );
}

/**
 * Fill `box` with the sessions matching the URL's filters, a page at a time; the selected
 * one (`selected`) is highlighted and scrolled into view, pages being loaded until it is
 * found (up to a bound).
 */
export async function sessionList(
  box: HTMLElement,
  params: URLSearchParams,
  selected: string | undefined,
  compact: boolean,
): Promise<void> {
  const f = filtersOf(params);
  const head = h('div', { class: 'count muted small' });
  const list = h('div', { class: 'slist' });
  clear(box);
  box.append(head, list);
  let next: string | undefined;
  let shown = 0;
  const page = async (): Promise<boolean> => {
    const r = await api<SessionPage>('sessions', { ...f, limit: compact ? 100 : 50, cursor: next });
    for (const s of r.sessions) list.appendChild(sessionItem(s, params, s.id === selected, compact));
    shown += r.sessions.length;
    next = r.next;
    head.textContent =
      r.total != null ? `${fmtNum(r.total)} session${r.total === 1 ? '' : 's'}` : `${shown}${next ? '+' : ''} sessions`;
    if (f.q) head.textContent += ` matching “${f.q}”`;
    box.querySelector('button.more')?.remove();
    if (next)
      box.appendChild(
        h(
          'button',
          { class: 'more', type: 'button', onclick: () => void page().catch((e) => box.append(errorBox(e))) },
          'more sessions',
        ),
      );
    if (!shown)
      list.appendChild(
        h('div', { class: 'empty' }, Object.keys(f).length ? 'No session matches.' : 'No agent session captured yet.'),
      );
    return r.sessions.some((s) => s.id === selected);
  };
  let found = await page();
  for (let i = 0; selected && !found && next && i < 20; i++) found = await page();
  const sel = list.querySelector<HTMLElement>('.srow.sel');
  sel?.scrollIntoView({ block: 'center' });
}

export function sessions(): View {
  return {
    async render(root, params) {
      const box = h('div', { class: 'sessions-page' });
      root.append(filterForm('/sessions', params), box);
      await sessionList(box, params, params.get('sel') ?? undefined, false);
    },
    async live() {
      // New sessions appear on the next search; a list being read is not reshuffled under the reader.
    },
  };
}
