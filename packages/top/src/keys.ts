// What each key does to the view's state, as a pure function of the state: the terminal
// UI applies it per key (several keys can arrive in one read), the tests call it directly.
import { type SortKey, sortFor, sortKeysOf, VIEWS, type ViewName } from './table.js';

export interface UiState {
  view: ViewName;
  /** The sort of each view, kept when switching between them. */
  sorts: Record<ViewName, SortKey>;
  reverse: boolean;
  /** First row shown. */
  scroll: number;
  /** A line for the footer (help, a key that does not apply). */
  message: string;
  quit: boolean;
}

/** The keys Ink reports beside the typed text (its `Key`, the fields used here). */
export interface KeyFlags {
  ctrl?: boolean;
  shift?: boolean;
  tab?: boolean;
  escape?: boolean;
  upArrow?: boolean;
  downArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
}

/** Keys that pick a view. */
export const VIEW_KEYS: Record<string, ViewName> = {
  a: 'agents',
  p: 'processes',
  f: 'files',
  n: 'network',
  m: 'models',
};
/** Keys that pick a sort (P and M for CPU and memory, as in top). */
export const SORT_BY_KEY: Record<string, SortKey> = {
  c: 'cost',
  t: 'tokens',
  k: 'calls',
  e: 'errors',
  P: 'cpu',
  M: 'rss',
  l: 'recent',
  o: 'opens',
  w: 'writes',
};
export const HELP =
  'a p f n m 1-5 Tab: view   s > / S <: next/previous sort   c t k e P M l o w: by cost tokens calls errors cpu rss last opens writes   r: reverse   ↑↓ PgUp PgDn: scroll   q: quit';

export function initialState(view: ViewName, sort: SortKey | undefined, reverse: boolean): UiState {
  return {
    view,
    sorts: Object.fromEntries(VIEWS.map((v) => [v, sortFor(v, sort)])) as Record<ViewName, SortKey>,
    reverse,
    scroll: 0,
    message: '',
    quit: false,
  };
}

/** The state after one key; `page` is how many rows a page scrolls. */
export function press(s: UiState, input: string, key: KeyFlags, page: number): UiState {
  if (input === 'q' || key.escape || (key.ctrl && input === 'c')) return { ...s, quit: true };
  const view = (v: ViewName): UiState => ({ ...s, view: v, scroll: 0, message: '' });
  const sortBy = (k: SortKey): UiState =>
    sortKeysOf(s.view).includes(k)
      ? { ...s, sorts: { ...s.sorts, [s.view]: k }, scroll: 0, message: '' }
      : { ...s, message: `${s.view} cannot be sorted by ${k}` };
  if (key.tab) return view(VIEWS[(VIEWS.indexOf(s.view) + (key.shift ? VIEWS.length - 1 : 1)) % VIEWS.length]!);
  const v = VIEW_KEYS[input] ?? (/^[1-5]$/.test(input) ? VIEWS[Number(input) - 1] : undefined);
  if (v) return view(v);
  if (input === 's' || input === '>' || input === 'S' || input === '<') {
    const keys = sortKeysOf(s.view);
    const step = input === 's' || input === '>' ? 1 : keys.length - 1;
    return sortBy(keys[(keys.indexOf(s.sorts[s.view]) + step) % keys.length]!);
  }
  const k = SORT_BY_KEY[input];
  if (k) return sortBy(k);
  if (input === 'r') return { ...s, reverse: !s.reverse, message: '' };
  if (input === '?' || input === 'h') return { ...s, message: s.message === HELP ? '' : HELP };
  if (key.downArrow) return { ...s, scroll: s.scroll + 1 };
  if (key.upArrow) return { ...s, scroll: Math.max(0, s.scroll - 1) };
  if (key.pageDown) return { ...s, scroll: s.scroll + page };
  if (key.pageUp) return { ...s, scroll: Math.max(0, s.scroll - page) };
  return s;
}
