import { api, clear, errorBox, fmtNum, h } from './dom.js';
import type { View, ViewFactory } from './router.js';
import { conversations } from './views/conversations.js';
import { events } from './views/events.js';
import { metrics } from './views/metrics.js';
import { overview } from './views/overview.js';
import { processes } from './views/processes.js';
import { session } from './views/session.js';
import { sessions } from './views/sessions.js';
import { timeline } from './views/timeline.js';

/** Views by path; the label is in the nav, or (with the nav entry it belongs to) reached from a link. */
const VIEWS: Record<string, [string, ViewFactory, string?]> = {
  sessions: ['Sessions', sessions],
  overview: ['Overview', overview],
  timeline: ['Timeline', timeline],
  processes: ['Process tree', processes],
  events: ['Events', events],
  metrics: ['Metrics', metrics],
  session: ['Session', session, 'sessions'],
  conversations: ['Conversations', conversations, 'sessions'],
};
const LANDING = 'sessions';

let current: View | undefined;
let currentName = '';

async function route(): Promise<void> {
  let name = location.pathname.replace(/^\/+|\/+$/g, '') || LANDING;
  if (!VIEWS[name]) name = LANDING;
  const navName = VIEWS[name]![2] ?? name;
  const root = document.getElementById('view')!;
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a'))
    a.classList.toggle('active', a.dataset.view === navName);
  document.title = `${VIEWS[name]![0]} · agentsight`;
  if (name !== currentName) {
    current = VIEWS[name]![1]();
    currentName = name;
  }
  clear(root);
  root.className = `view-${name}`;
  try {
    await current!.render(root, new URLSearchParams(location.search));
  } catch (e) {
    root.appendChild(errorBox(e));
  }
}

async function refreshStats(): Promise<void> {
  try {
    const st = await api<{ events: number; calls: number; processes: number }>('stats');
    const el = document.getElementById('stats')!;
    el.textContent = `${fmtNum(st.events)} events · ${st.calls} LLM calls · ${st.processes} processes`;
  } catch {
    /* the header is informational */
  }
}

function connectLive(): void {
  const dot = document.getElementById('live')!;
  const es = new EventSource('/api/live');
  let pending: number | undefined;
  let busy = false;
  // Commits arrive up to ten times a second; views refresh at most every 300 ms.
  const flush = async () => {
    if (busy || pending === undefined) return;
    const id = pending;
    pending = undefined;
    busy = true;
    try {
      await current?.live?.(id);
      await refreshStats();
    } finally {
      busy = false;
      if (pending !== undefined) setTimeout(flush, 300);
    }
  };
  es.addEventListener('hello', () => {
    dot.className = 'live on';
  });
  es.addEventListener('commit', (e) => {
    pending = (JSON.parse((e as MessageEvent).data) as { last_id: number }).last_id;
    (window as unknown as { __asLastId: number }).__asLastId = pending;
    setTimeout(flush, 0);
  });
  es.onerror = () => {
    dot.className = 'live off';
  };
  es.onopen = () => {
    dot.className = 'live on';
  };
}

function initTheme(): void {
  const saved = localStorage.getItem('as-theme');
  const theme = saved ?? (matchMedia('(prefers-color-scheme: light)').matches ? 'light' : 'dark');
  document.documentElement.dataset.theme = theme;
  document.getElementById('theme')!.addEventListener('click', () => {
    const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    localStorage.setItem('as-theme', next);
  });
}

function init(): void {
  // The token came in the URL once and now lives in an HttpOnly cookie: keep it out of
  // URLs people copy to share a view.
  const u = new URL(location.href);
  if (u.searchParams.has('token')) {
    u.searchParams.delete('token');
    history.replaceState(null, '', u.pathname + u.search);
  }
  initTheme();
  const nav = document.getElementById('nav')!;
  for (const [key, [label, , under]] of Object.entries(VIEWS)) {
    if (under) continue;
    nav.appendChild(h('a', { href: `/${key}`, 'data-view': key }, label));
  }
  document.addEventListener('click', (e) => {
    const a = (e.target as Element).closest?.('a');
    if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    e.preventDefault();
    history.pushState(null, '', url.pathname + url.search);
    void route();
  });
  window.addEventListener('popstate', () => void route());
  void route();
  void refreshStats();
  connectLive();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
