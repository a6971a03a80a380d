// Small DOM helpers. Captured text only ever reaches the page through textContent (h()
// children that are strings), never innerHTML: prompts and tool output are untrusted.

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    // Through the CSSOM: the CSP forbids style attributes from markup.
    else if (k === 'style') el.style.cssText = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

const SVGNS = 'http://www.w3.org/2000/svg';
export function s(
  tag: string,
  attrs: Record<string, string | number | undefined> = {},
  ...children: Array<Node | string>
): SVGElement {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// ------------------------------------------------------------------ formatting

export function fmtTime(us: number | null | undefined, withDate = false): string {
  if (us == null) return '—';
  const d = new Date(us / 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const t = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  return withDate ? `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${t}` : t;
}

export function fmtDur(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60000)} m ${Math.round((ms % 60000) / 1000)} s`;
}

export function fmtNum(n: number | null | undefined): string {
  if (n == null) return '—';
  return n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

export function fmtCost(usd: number | null | undefined): string {
  if (usd == null) return 'cost unknown';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function argvText(argv: unknown, fallback = ''): string {
  return Array.isArray(argv) && argv.length
    ? argv.map((a) => (/[\s"'$]/.test(String(a)) ? JSON.stringify(a) : String(a))).join(' ')
    : fallback;
}

export function exitBadge(p: {
  exit_code?: number | null;
  signal?: number | null;
  end_ts?: number | null;
}): HTMLElement {
  if (p.end_ts == null) return h('span', { class: 'badge run' }, 'running');
  if (p.signal) return h('span', { class: 'badge bad' }, `signal ${p.signal}`);
  if (p.exit_code == null) return h('span', { class: 'badge' }, 'exited');
  return h('span', { class: `badge ${p.exit_code === 0 ? 'ok' : 'bad'}` }, `exit ${p.exit_code}`);
}

// ------------------------------------------------------------------ JSON folding

/** A collapsible view of any JSON value; levels deeper than `open` start folded. */
export function jsonTree(v: unknown, open = 2, depth = 0): Node {
  if (v === null) return h('span', { class: 'j-null' }, 'null');
  if (typeof v === 'string') {
    return v.includes('\n') || v.length > 120
      ? h('span', { class: 'j-str multi' }, v)
      : h('span', { class: 'j-str' }, JSON.stringify(v));
  }
  if (typeof v === 'number') return h('span', { class: 'j-num' }, String(v));
  if (typeof v === 'boolean') return h('span', { class: 'j-bool' }, String(v));
  if (typeof v !== 'object') return h('span', null, String(v));
  const arr = Array.isArray(v);
  const entries = arr
    ? (v as unknown[]).map((x, i) => [String(i), x] as const)
    : Object.entries(v as Record<string, unknown>);
  if (!entries.length) return h('span', { class: 'j-punct' }, arr ? '[]' : '{}');
  const d = h('details', { class: 'j', open: depth < open });
  d.appendChild(
    h(
      'summary',
      null,
      h('span', { class: 'j-punct' }, arr ? `[${entries.length}]` : `{${entries.length}}`),
      !arr
        ? h(
            'span',
            { class: 'muted' },
            ' ' +
              entries
                .slice(0, 4)
                .map(([k]) => k)
                .join(', ') +
              (entries.length > 4 ? ', …' : ''),
          )
        : null,
    ),
  );
  const body = h('div', { class: 'j-body' });
  for (const [k, x] of entries)
    body.appendChild(
      h(
        'div',
        { class: 'j-row' },
        h('span', { class: 'j-key' }, arr ? `${k}: ` : `${k}: `),
        jsonTree(x, open, depth + 1),
      ),
    );
  d.appendChild(body);
  return d;
}

// ------------------------------------------------------------------ markdown

function inline(text: string): Node[] {
  const out: Node[] = [];
  const re = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*|_[^_\n]+_)|(\[[^\]\n]+\]\((https?:\/\/[^)\s]+)\))/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    if (m[1]) out.push(h('code', null, t.slice(1, -1)));
    else if (m[2]) out.push(h('strong', null, t.slice(2, -2)));
    else if (m[3]) out.push(h('em', null, t.slice(1, -1)));
    else if (m[4])
      out.push(h('a', { href: m[5]!, rel: 'noreferrer noopener', target: '_blank' }, t.slice(1, t.indexOf(']'))));
    last = m.index + t.length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

/** Render the markdown models write (fences, headings, lists, quotes, inline code/emphasis) as DOM. */
export function markdown(src: string): HTMLElement {
  const root = h('div', { class: 'md' });
  const lines = src.replace(/\r\n/g, '\n').split('\n');
  let i = 0;
  let para: string[] = [];
  const flush = () => {
    if (para.length) {
      root.appendChild(h('p', null, inline(para.join('\n'))));
      para = [];
    }
  };
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = /^\s*(```|~~~)\s*([\w+-]*)/.exec(line);
    if (fence) {
      flush();
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i]!.trim().startsWith(fence[1]!)) body.push(lines[i++]!);
      i++;
      root.appendChild(h('pre', { class: 'code', 'data-lang': fence[2] || null }, h('code', null, body.join('\n'))));
      continue;
    }
    const head = /^(#{1,6})\s+(.*)$/.exec(line);
    if (head) {
      flush();
      root.appendChild(h(`h${Math.min(6, head[1]!.length + 2)}` as 'h3', null, inline(head[2]!)));
      i++;
      continue;
    }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      flush();
      const ordered = /^\s*\d/.test(line);
      const list = h(ordered ? 'ol' : 'ul', null);
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i]!)) {
        list.appendChild(h('li', null, inline(lines[i]!.replace(/^\s*([-*+]|\d+[.)])\s+/, ''))));
        i++;
      }
      root.appendChild(list);
      continue;
    }
    if (/^>\s?/.test(line)) {
      flush();
      const q: string[] = [];
      while (i < lines.length && /^>\s?/.test(lines[i]!)) q.push(lines[i++]!.replace(/^>\s?/, ''));
      root.appendChild(h('blockquote', null, inline(q.join('\n'))));
      continue;
    }
    if (!line.trim()) {
      flush();
      i++;
      continue;
    }
    para.push(line);
    i++;
  }
  flush();
  return root;
}

// ------------------------------------------------------------------ API

export class ApiError extends Error {}

export async function api<T = Record<string, any>>(
  path: string,
  params: Record<string, string | number | undefined | null> = {},
): Promise<T> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const url = `/api/${path}${qs.size ? `?${qs}` : ''}`;
  const r = await fetch(url, { credentials: 'same-origin' });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError((body as { error?: string }).error ?? `${r.status} ${r.statusText}`);
  return body as T;
}

export function errorBox(e: unknown): HTMLElement {
  return h('div', { class: 'error' }, (e as Error).message ?? String(e));
}

// ------------------------------------------------------------------ long text

/**
 * A one-line text (an argv, a path) cut to `max` characters, with a button that shows the
 * rest: Claude Code's shell snapshots are 5 KB commands that would push everything else off
 * the page.
 */
export function clipLine(text: string, max = 160, cls = 'mono'): HTMLElement {
  const el = h('span', { class: `clip ${cls}`, title: text.length > max ? null : text });
  if (text.length <= max) {
    el.textContent = text;
    return el;
  }
  const body = h('span', { class: 'clip-text' }, text.slice(0, max));
  const btn = h('button', { type: 'button', class: 'clip-more', title: 'show all' }, `… +${text.length - max} chars`);
  btn.addEventListener('click', (e) => {
    e.preventDefault();
    e.stopPropagation();
    const open = el.classList.toggle('open');
    body.textContent = open ? text : text.slice(0, max);
    btn.textContent = open ? 'less' : `… +${text.length - max} chars`;
  });
  el.append(body, btn);
  return el;
}

/** A block of output cut to `maxLines` lines (and `maxChars`), expandable. */
export function clipBlock(text: string, cls = 'out', maxLines = 24, maxChars = 3000): HTMLElement {
  const lines = text.split('\n');
  const cut = lines.length > maxLines || text.length > maxChars;
  const short = cut ? lines.slice(0, maxLines).join('\n').slice(0, maxChars) : text;
  const pre = h('pre', { class: cls }, short);
  if (!cut) return pre;
  const more = `show all (${lines.length} lines, ${fmtNum(text.length)} chars)`;
  const btn = h('button', { type: 'button', class: 'clip-more' }, more);
  btn.addEventListener('click', () => {
    const open = wrap.classList.toggle('open');
    pre.textContent = open ? text : short;
    btn.textContent = open ? 'show less' : more;
  });
  const wrap = h('div', { class: 'clip-block' }, pre, btn);
  return wrap;
}
