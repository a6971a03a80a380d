// The calls of one agent process (`?pid=`), as they arrive: the raw per-process view that
// Timeline bars and older links lead to. Agent sessions (a conversation id, sub-agents,
// search) are the Sessions pages; this view links there.
import { alertList, callCard, callDetail, type Row } from '../calls.js';
import { api, clear, errorBox, h } from '../dom.js';
import type { View } from '../router.js';
import { navigate } from '../router.js';

const PAGE = 50;

export function conversations(): View {
  let root: HTMLElement;
  let list: HTMLElement;
  let pid: number | undefined;
  let loaded = new Map<string, string>();
  /** start_ts of the calls on the page, in order: live updates re-read only the tail. */
  let starts: number[] = [];
  let cursor: string | null = null;

  const detail = callDetail;

  /** Without a pid: the agent of the first call captured. */
  async function firstPid(): Promise<number | undefined> {
    const { calls } = await api<{ calls: Row[] }>('calls', { limit: 1 });
    return calls[0]?.pid ?? undefined;
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
    const box = alertList(mine);
    if (box) list.prepend(box);
  }

  return {
    async render(r, params) {
      root = r;
      pid = params.has('pid') ? Number(params.get('pid')) : undefined;
      list = h('div', { class: 'calls' });
      root.appendChild(
        h(
          'div',
          { class: 'filters' },
          h('span', null, pid !== undefined ? `Calls of agent process ${pid}` : 'Calls'),
          h('a', { href: '/sessions', class: 'small' }, 'all sessions'),
        ),
      );
      root.appendChild(list);
      if (pid === undefined) pid = await firstPid();
      if (pid !== undefined && !params.has('pid')) navigate('/conversations', { pid }, true);
      else await loadCalls(false);
    },
    async live() {
      try {
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
