// What views share with the page around them: the View contract and moving between views.
// Views import this, never main.ts, which imports them.

export interface View {
  /** Draw into `root` for these URL parameters. */
  render(root: HTMLElement, params: URLSearchParams): Promise<void>;
  /** New events were stored (id of the newest); refresh what is shown. */
  live?(lastId: number): Promise<void> | void;
}

export type ViewFactory = () => View;

/** Go to a view with these filters; the URL is the state, so any view can be shared. */
export function navigate(
  path: string,
  params: Record<string, string | number | undefined | null> = {},
  replace = false,
): void {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  const url = `${path}${qs.size ? `?${qs}` : ''}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  // main.ts routes on popstate, as it does for the browser's own back and forward.
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/** Update the query string without re-rendering (selection inside a view). */
export function setParams(params: Record<string, string | number | undefined | null>): void {
  const qs = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') qs.delete(k);
    else qs.set(k, String(v));
  }
  history.replaceState(null, '', `${location.pathname}${qs.size ? `?${qs}` : ''}`);
}
