// One LLM call as a card: the new messages of its request (the user's words first, injected
// context folded under a label), the response, each tool call with the processes it ran and,
// where a tool call started a sub-agent, the sub-agent's own calls nested under it. Shared by
// the session page and the per-process Conversations view.
import {
  api,
  argvText,
  clipBlock,
  clipLine,
  errorBox,
  exitBadge,
  fmtCost,
  fmtDur,
  fmtNum,
  fmtTime,
  h,
  jsonTree,
  markdown,
} from './dom.js';
import { injectedLabel, injectedSummary, splitInjected } from './injected.js';

export type Row = Record<string, any>;

export interface CardOptions {
  /** Content to nest under a tool call (by its id): a sub-agent it started. */
  under?: (toolCallId: string | null, name: string) => Node | null;
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
    { class: 'tool-use', 'data-tool': name, 'data-tool-id': id ?? null },
    h(
      'div',
      { class: 'tool-head' },
      h('span', { class: 'tag tool' }, 'tool call'),
      h('b', null, name),
      id ? h('span', { class: 'muted small' }, ` ${id}`) : null,
    ),
    jsonTree(parsed, 3),
  );
}

/** Injected blocks folded under one label; each block folded under its own. */
function injectedBox(blocks: string[]): HTMLElement {
  return h(
    'details',
    { class: 'injected' },
    h('summary', null, injectedSummary(blocks)),
    blocks.map((b) =>
      h('details', { class: 'inj-block' }, h('summary', null, injectedLabel(b)), clipBlock(b, 'pre inj', 60, 20000)),
    ),
  );
}

function toolResult(content: unknown, isError: boolean, id?: string): HTMLElement {
  const { own, blocks } = splitInjected(asText(content));
  return h(
    'div',
    { class: `tool-result ${isError ? 'err' : ''}` },
    h(
      'div',
      { class: 'tool-head' },
      h('span', { class: `tag ${isError ? 'bad' : 'ok'}` }, isError ? 'tool error' : 'tool result'),
      id ? h('span', { class: 'muted small' }, ` ${id}`) : null,
    ),
    clipBlock(own),
    blocks.length ? injectedBox(blocks) : null,
  );
}

/** One part of a normalized message (the server sends the conversation normalized). */
function part(p: Row): Node {
  switch (p.type) {
    case 'text':
      return markdown(String(p.content ?? ''));
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

/**
 * A message with the user's own words first and everything the agent injected into the turn
 * (whole injected parts, and blocks inside other text) folded at the end under one label.
 */
export function message(m: Row): HTMLElement {
  const role = String(m.role ?? 'message');
  const body = h('div', { class: 'msg-body' });
  const injected: string[] = [];
  const own: Node[] = [];
  for (const p of (m.parts as Row[] | undefined) ?? []) {
    if (p.type === 'text' && role !== 'assistant') {
      const sp = splitInjected(String(p.content ?? ''));
      if (p.injected && !sp.blocks.length) injected.push(String(p.content ?? ''));
      else injected.push(...sp.blocks);
      if (sp.own) own.push(h('div', { class: 'own' }, markdown(sp.own)));
      continue;
    }
    own.push(part(p));
  }
  body.append(...own);
  if (injected.length) body.appendChild(injectedBox(injected));
  return h('div', { class: `msg role-${role}` }, h('div', { class: 'role' }, role), body);
}

export function processTable(procs: Row[]): HTMLElement {
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
            { class: 'argv-cell', style: `padding-left:${Math.min(p.depth ?? 0, 8) * 14 + 4}px` },
            h('a', { href: `/processes?rid=${p.rid}` }, clipLine(argvText(p.argv, p.comm ?? '?'), 140)),
          ),
          h('td', { class: 'muted nowrap' }, `pid ${p.pid}`),
          h('td', { class: 'nowrap' }, exitBadge(p)),
          h('td', { class: 'muted nowrap' }, p.end_ts ? fmtDur((p.end_ts - p.start_ts) / 1000) : ''),
          h('td', { class: 'muted nowrap' }, `${p.opens ?? 0} files · ${p.conns ?? 0} net`),
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

export function callCard(c: Row, d: Row | undefined, opts: CardOptions = {}): HTMLElement {
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
    if (system.length) {
      const text = system.map((p) => String(p.content ?? '')).join('\n');
      reqBox.appendChild(
        h(
          'details',
          { class: 'sys' },
          h('summary', null, `system prompt (${fmtNum(text.length)} chars)`),
          clipBlock(text, 'pre sysp', 80, 20000),
        ),
      );
    }
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
    (d?.tools as Row[] | undefined) ??
    ((c.tools as Row[] | undefined) || (c.tool_calls as Row[] | undefined) || []).map(
      (t): Row => ({ ...t, processes: t.processes ?? [] }),
    );
  for (const t of tools) {
    const box = toolChip(t.name, t.arguments, t.id);
    const nested = opts.under?.(t.id ?? null, t.name);
    if (nested) box.appendChild(nested);
    if ((t.processes ?? []).length || !nested)
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

/** A call's detail for its card (conversation new in this request, tool processes). */
export function callDetail(id: string): Promise<Row | undefined> {
  return api<Row>(`calls/${encodeURIComponent(id)}`, { full: 0 }).catch(() => undefined);
}

/** trace/alert findings about these calls or this pid, drawn as a list. */
export function alertList(alerts: Row[]): HTMLElement | null {
  if (!alerts.length) return null;
  return h(
    'div',
    { class: 'alerts' },
    alerts.map((a) =>
      h(
        'div',
        { class: `alert sev-${a.severity}` },
        h('span', { class: `badge ${a.severity === 'info' ? '' : 'bad'}` }, a.severity ?? 'alert'),
        ' ',
        h('b', null, a.rule),
        ' ',
        a.message,
        a.evidence ? h('details', null, h('summary', null, 'evidence'), jsonTree(a.evidence, 2)) : null,
      ),
    ),
  );
}
