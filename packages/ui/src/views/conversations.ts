import {
  api,
  argvText,
  clear,
  errorBox,
  exitBadge,
  fmtCost,
  fmtDur,
  fmtNum,
  fmtTime,
  h,
  jsonTree,
  markdown,
} from '../dom.js';
import type { View } from '../router.js';
import { navigate } from '../router.js';

type Row = Record<string, any>;

const PAGE = 50;

function modelsText(models: string | null): string {
  const l = (models ?? '').split(',').filter(Boolean);
  return l.length > 2 ? `${l.slice(0, 2).join(', ')} +${l.length - 2} more` : l.join(', ');
}

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v))
    return v.map((x) => (typeof x === 'string' ? x : ((x as Row)?.text ?? JSON.stringify(x)))).join('\n');
  return JSON.stringify(v, null, 2);
}

function toolChip(name: string, args: unknown, id?: string | null): HTMLElement {
  let parsed = args;
  if (typeof args === 'string') {
    try {
      parsed = JSON.parse(args);
    } catch {
      /* raw string */
    }
  }
  return h(
    'div',
    { class: 'tool-use' },
    h(
      'div',
      { class: 'tool-head' },
      h('span', { class: 'tag tool' }, 'tool call'),
      h('b', null, name),
      id ? h('span', { class: 'muted' }, ` ${id}`) : null,
    ),
    jsonTree(parsed, 3),
  );
}

function toolResult(content: unknown, isError: boolean, id?: string): HTMLElement {
  return h(
    'div',
    { class: `tool-result ${isError ? 'err' : ''}` },
    h(
      'div',
      { class: 'tool-head' },
      h('span', { class: `tag ${isError ? 'bad' : 'ok'}` }, isError ? 'tool error' : 'tool result'),
      id ? h('span', { class: 'muted' }, ` ${id}`) : null,
    ),
    h('pre', { class: 'out' }, asText(content)),
  );
}

/** One part of a normalized message (the server sends the conversation normalized). */
function part(p: Row): Node {
  switch (p.type) {
    case 'text':
      // Context the agent added to the turn (Claude Code's <system-reminder>): folded.
      return p.injected
        ? h(
            'details',
            { class: 'injected' },
            h('summary', null, 'injected context'),
            h('div', { class: 'pre' }, String(p.content ?? '')),
          )
        : markdown(String(p.content ?? ''));
    case 'reasoning':
      return h(
        'details',
        { class: 'thinking' },
        h('summary', null, 'thinking'),
        h('div', { class: 'pre' }, String(p.content ?? '')),
      );
    case 'tool_call':
      return toolChip(p.name, p.arguments, p.id);
    case 'tool_call_response':
      return toolResult(p.result, !!p.is_error, p.id ?? p.name);
  }
  if (/image/.test(String(p.type))) return h('span', { class: 'muted' }, '[image]');
  return jsonTree(p.content ?? p, 1);
}

function message(m: Row): HTMLElement {
  const role = String(m.role ?? 'message');
  const body = h('div', { class: 'msg-body' });
  for (const p of (m.parts as Row[] | undefined) ?? []) body.appendChild(part(p));
  return h('div', { class: `msg role-${role}` }, h('div', { class: 'role' }, role), body);
}

function processTable(procs: Row[]): HTMLElement {
  if (!procs.length) return h('div', { class: 'muted small' }, 'no process seen for this tool call');
  return h(
    'table',
    { class: 'procs' },
    h(
      'tbody',
      null,
      procs.map((p) =>
        h(
          'tr',
          null,
          h(
            'td',
            { class: 'mono', style: `padding-left:${(p.depth ?? 0) * 14 + 4}px` },
            h('a', { href: `/processes?rid=${p.rid}` }, argvText(p.argv, p.comm ?? '?')),
          ),
          h('td', { class: 'muted' }, `pid ${p.pid}`),
          h('td', null, exitBadge(p)),
          h('td', { class: 'muted' }, p.end_ts ? fmtDur((p.end_ts - p.start_ts) / 1000) : ''),
          h('td', { class: 'muted' }, `${p.opens ?? 0} files · ${p.conns ?? 0} net`),
        ),
      ),
    ),
  );
}

/** Where the call's socket was connected (from the proc connect on its fd), next to the Host it named. */
function peerText(peer: Row | null | undefined, ev: Row | undefined): HTMLElement | null {
  if (!peer?.addr) return null;
  const addr = String(peer.addr).includes(':') ? `[${peer.addr}]` : String(peer.addr);
  const to = `${addr}${peer.port != null ? `:${peer.port}` : ''}`;
  return h(
    'span',
    { class: 'kv peer', title: `socket fd ${peer.fd} of pid ${ev?.pid ?? '?'}${ev?.host ? `, Host: ${ev.host}` : ''}` },
    `→ ${to}`,
  );
}

function callCard(c: Row, d: Row | undefined): HTMLElement {
  const ev = d?.event as Row | undefined;
  const streaming = c.state === 'streaming';
  const head = h(
    'div',
    { class: 'call-head' },
    h('b', null, c.model ?? 'model?'),
    h('span', { class: 'muted' }, ` ${c.provider ?? ''}`),
    h(
      'span',
      { class: `badge ${streaming ? 'run' : c.state === 'done' ? 'ok' : 'bad'}` },
      streaming ? 'streaming…' : c.state === 'done' ? String(c.status ?? 200) : c.state,
    ),
    h('span', { class: 'kv' }, `in ${fmtNum(c.input_tokens)} · out ${fmtNum(c.output_tokens)} tok`),
    h('span', { class: 'kv' }, `TTFT ${fmtDur(c.ttft_ms)} · ${fmtDur(c.duration_ms)}`),
    h('span', { class: 'kv' }, fmtCost(c.cost_usd)),
    peerText(d?.peer as Row | null | undefined, ev),
    h('span', { class: 'muted right' }, fmtTime(c.start_ts)),
    h('a', { class: 'small', href: `/events?type=llm/call&q=${encodeURIComponent(c.id)}` }, 'raw'),
  );
  const card = h(
    'section',
    { class: `call ${streaming ? 'streaming' : ''}`, id: `call-${c.id}`, 'data-sig': `${c.state}|${c.ts}` },
    head,
  );
  const conv = d?.conversation as Row | null | undefined;
  const req = ev?.request as Row | undefined;
  if (conv) {
    const msgs = (conv.messages as Row[] | undefined) ?? [];
    // The API sends only what is new in this request (after the last assistant turn);
    // earlier turns are fetched when unfolded.
    const offset = (conv.offset as number | undefined) ?? 0;
    const reqBox = h('div', { class: 'request' });
    const system = (conv.system as Row[] | null) ?? [];
    if (system.length)
      reqBox.appendChild(
        h(
          'details',
          { class: 'sys' },
          h('summary', null, 'system prompt'),
          h('div', { class: 'pre' }, system.map((p) => String(p.content ?? '')).join('\n')),
        ),
      );
    if (offset) {
      const older = h(
        'details',
        { class: 'older' },
        h('summary', null, `${offset} earlier message${offset > 1 ? 's' : ''}`),
      );
      let loaded = false;
      older.addEventListener('toggle', () => {
        if (loaded || !older.open) return;
        loaded = true;
        void api<Row>(`calls/${encodeURIComponent(c.id)}`, { full: 1 })
          .then((full) => {
            for (const m of ((full.conversation?.messages as Row[]) ?? []).slice(0, offset))
              older.appendChild(message(m));
          })
          .catch((e) => older.appendChild(errorBox(e)));
      });
      reqBox.appendChild(older);
    }
    for (const m of msgs) reqBox.appendChild(message(m));
    if (req?.tools?.length)
      reqBox.appendChild(
        h(
          'details',
          { class: 'tools-decl' },
          h('summary', null, `${req.tools.length} tools offered`),
          jsonTree(req.tools, 1),
        ),
      );
    card.appendChild(reqBox);
  }
  const resp = h('div', { class: 'response' }, h('div', { class: 'role' }, 'assistant'));
  const r = ev?.response as Row | undefined;
  if (r?.thinking)
    resp.appendChild(
      h('details', { class: 'thinking' }, h('summary', null, 'thinking'), h('div', { class: 'pre' }, r.thinking)),
    );
  const text = r?.text ?? (streaming ? c.partial : c.preview) ?? '';
  if (text) resp.appendChild(markdown(text));
  const tools: Row[] =
    (d?.tools as Row[] | undefined) ?? (c.tool_calls as Row[]).map((t): Row => ({ ...t, processes: [] }));
  for (const t of tools) {
    const box = toolChip(t.name, t.arguments, t.id);
    box.appendChild(
      h(
        'div',
        { class: 'ran' },
        h(
          'span',
          { class: 'muted small' },
          t.how === 'link'
            ? `ran (correlated${t.confidence != null ? `, confidence ${t.confidence}` : ''}${t.reasons?.length ? `: ${t.reasons.join(', ')}` : ''}):`
            : t.how === 'time+lineage'
              ? 'ran (by time and process lineage):'
              : 'ran:',
        ),
        processTable(t.processes ?? []),
      ),
    );
    resp.appendChild(box);
  }
  if (ev?.error) resp.appendChild(h('div', { class: 'error' }, 'error: ', jsonTree(ev.error, 1)));
  if (r?.finish_reason) resp.appendChild(h('div', { class: 'muted small' }, `finish: ${r.finish_reason}`));
  card.appendChild(resp);
  return card;
}

export function conversations(): View {
  let root: HTMLElement;
  let list: HTMLElement;
  let side: HTMLElement;
  let pid: number | undefined;
  let loaded = new Map<string, string>();
  /** start_ts of the calls on the page, in order: live updates re-read only the tail. */
  let starts: number[] = [];
  let cursor: string | null = null;

  const detail = (id: string) => api<Row>(`calls/${encodeURIComponent(id)}`, { full: 0 }).catch(() => undefined);

  async function loadSessions(params: URLSearchParams) {
    const { sessions } = await api<{ sessions: Row[] }>('sessions');
    clear(side);
    side.appendChild(h('h3', null, 'Agent sessions'));
    if (!sessions.length) side.appendChild(h('div', { class: 'muted' }, 'No LLM calls captured yet.'));
    for (const s of sessions) {
      side.appendChild(
        h(
          'a',
          { class: `session ${s.pid === pid ? 'active' : ''}`, href: `/conversations?pid=${s.pid}` },
          h('div', null, h('b', null, s.comm ?? '?'), ` pid ${s.pid}`),
          h('div', { class: 'muted small mono' }, argvText(s.argv)),
          h(
            'div',
            { class: 'small' },
            `${s.calls} calls · ${fmtNum((s.input_tokens ?? 0) + (s.output_tokens ?? 0))} tok · ${modelsText(s.models)}`,
          ),
          h('div', { class: 'muted small' }, `${fmtTime(s.first_ts, true)}`),
        ),
      );
    }
    if (pid === undefined && sessions.length && !params.has('pid')) pid = sessions[0]!.pid;
    for (const a of side.querySelectorAll<HTMLAnchorElement>('a.session'))
      a.classList.toggle('active', a.href.endsWith(`pid=${pid}`));
  }

  async function loadCalls(append: boolean) {
    const page = await api<{ calls: Row[]; next: string | null }>('calls', {
      pid,
      limit: PAGE,
      cursor: append ? cursor : undefined,
    });
    if (!append) {
      clear(list);
      loaded = new Map();
      starts = [];
    }
    const details = await Promise.all(page.calls.map((c) => (c.state === 'streaming' ? undefined : detail(c.id))));
    page.calls.forEach((c, i) => {
      const card = callCard(c, details[i]);
      list.appendChild(card);
      loaded.set(c.id, `${c.state}|${c.ts}`);
      starts.push(c.start_ts);
    });
    cursor = page.next;
    if (!append) await showAlerts(page.calls);
    list.querySelector('.more')?.remove();
    if (cursor) list.appendChild(h('button', { class: 'more', onclick: () => void loadCalls(true) }, 'more calls'));
    if (!loaded.size)
      list.appendChild(h('div', { class: 'empty' }, 'No LLM calls in this session yet. They appear here live.'));
  }

  /** trace/alert findings about this agent: shown above its calls. */
  async function showAlerts(calls: Row[]) {
    list.querySelector('.alerts')?.remove();
    const ids = calls.map((c) => c.id as string);
    const { events } = await api<{ events: Row[] }>('events', { src: 'trace', type: 'alert', limit: 200 }).catch(
      () => ({ events: [] as Row[] }),
    );
    const mine = events.filter((a) => a.pid === pid || ids.some((id) => JSON.stringify(a.evidence ?? '').includes(id)));
    if (!mine.length) return;
    list.prepend(
      h(
        'div',
        { class: 'alerts' },
        mine.map((a) =>
          h(
            'div',
            { class: `alert sev-${a.severity}` },
            h('span', { class: `badge ${a.severity === 'info' ? '' : 'bad'}` }, a.severity),
            ' ',
            h('b', null, a.rule),
            ' ',
            a.message,
            h('details', null, h('summary', null, 'evidence'), jsonTree(a.evidence, 2)),
          ),
        ),
      ),
    );
  }

  return {
    async render(r, params) {
      root = r;
      pid = params.has('pid') ? Number(params.get('pid')) : undefined;
      side = h('aside', { class: 'sessions' });
      list = h('div', { class: 'calls' });
      root.appendChild(h('div', { class: 'split' }, side, list));
      await loadSessions(params);
      if (pid !== undefined && !params.has('pid')) navigate('/conversations', { pid }, true);
      else await loadCalls(false);
    },
    async live() {
      try {
        await loadSessions(new URLSearchParams(location.search));
        // Re-fetch the visible window; redraw only cards that changed (a stream that
        // finished, a new call), appending new ones at the end when all pages are loaded.
        const from = starts.length > 20 ? starts[starts.length - 20] : undefined;
        const page = await api<{ calls: Row[]; next: string | null }>('calls', { pid, from, limit: 1000 });
        list.querySelector('.empty')?.remove();
        for (const c of page.calls) {
          const sig = `${c.state}|${c.ts}`;
          if (loaded.get(c.id) === sig) continue;
          const old = document.getElementById(`call-${c.id}`);
          if (!old && cursor) continue;
          const card = callCard(c, c.state === 'streaming' ? undefined : await detail(c.id));
          if (old) old.replaceWith(card);
          else {
            list.insertBefore(card, list.querySelector('.more'));
            starts.push(c.start_ts);
          }
          loaded.set(c.id, sig);
        }
        // Processes exit, and correlation links arrive (when the next request is seen), after a
        // call was drawn: redraw the latest calls that asked for tools.
        const recent = page.calls
          .filter((c) => c.state !== 'streaming' && (c.tool_calls as unknown[]).length)
          .slice(-3);
        for (const c of recent) {
          const old = document.getElementById(`call-${c.id}`);
          if (old) old.replaceWith(callCard(c, await detail(c.id)));
        }
      } catch (e) {
        root.prepend(errorBox(e));
      }
    },
  };
}
