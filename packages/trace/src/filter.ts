// The session filters of the sessions page, the overview and `agentsight report
// sessions|export`: one type, one parser (URL parameters and command-line options are both
// name=value pairs), one meaning. The store answers them in SQL, report in memory
// (`sessionMatches`); both over the same SessionSummary facts.

/** The filters shared by the sessions page, the overview and `report sessions|export`. */
export interface SessionFilter {
  /** Full-text: prompts, responses, tool arguments, commands, paths (SQLite FTS5 query syntax in the store; words, all of them, in report). */
  q?: string;
  agent?: string;
  model?: string;
  provider?: string;
  tool?: string;
  host?: string;
  /** 'ok' | 'error': a session with any failed call or non-zero tool exit is 'error'. */
  status?: 'ok' | 'error';
  /** Only sessions with at least one trace alert. */
  alerts?: boolean;
  /** µs since the epoch: sessions active at or after. */
  from?: number;
  /** µs since the epoch: sessions active at or before. */
  to?: number;
}

export const FILTER_NAMES = [
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

/** A filter value the parser refuses, with the message a user sees. */
export class FilterError extends Error {
  override name = 'FilterError';
}

/** µs since the epoch, or an ISO 8601 date (a URL or command line written by hand). */
export function parseTime(name: string, raw: string): number {
  if (/^\d{1,17}$/.test(raw)) return Number(raw);
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d\d-\d\d/.test(raw) || Number.isNaN(ms))
    throw new FilterError(`${name}: want microseconds since the epoch or an ISO 8601 time, got '${raw.slice(0, 40)}'`);
  return ms * 1000;
}

/** Parse the filter's fields from name=value pairs; other names are the caller's business. */
export function parseFilter(get: (name: string) => string | undefined): SessionFilter {
  const f: SessionFilter = {};
  for (const name of FILTER_NAMES) {
    const raw = get(name);
    if (raw === undefined) continue;
    if (raw.length > 1000) throw new FilterError(`${name}: longer than 1000 characters`);
    switch (name) {
      case 'status':
        if (raw !== 'ok' && raw !== 'error') throw new FilterError(`status: want 'ok' or 'error', got '${raw}'`);
        f.status = raw;
        break;
      case 'alerts':
        if (!['1', 'true', 'yes', '0', 'false', 'no'].includes(raw))
          throw new FilterError(`alerts: want 1 or 0, got '${raw.slice(0, 20)}'`);
        if (['1', 'true', 'yes'].includes(raw)) f.alerts = true;
        break;
      case 'from':
      case 'to':
        f[name] = parseTime(name, raw);
        break;
      default:
        if (raw.trim()) f[name] = raw.trim();
    }
  }
  if (f.from !== undefined && f.to !== undefined && f.from > f.to) throw new FilterError('from: after to');
  return f;
}

/** What a filter is checked against, for one session. */
export interface SessionFacts {
  agent?: string;
  host?: string;
  models: Iterable<string>;
  providers: Iterable<string>;
  tools: Iterable<string>;
  errors: number;
  alerts: number;
  start: number;
  end: number;
  /** Everything searchable, lower-cased. */
  text?: string;
}

const has = (xs: Iterable<string>, x: string) => {
  for (const y of xs) if (y === x) return true;
  return false;
};

/** Does a session pass the filter? (The store's SQL says the same; report uses this.) */
export function sessionMatches(s: SessionFacts, f: SessionFilter): boolean {
  if (f.agent !== undefined && s.agent !== f.agent) return false;
  if (f.host !== undefined && s.host !== f.host) return false;
  if (f.model !== undefined && !has(s.models, f.model)) return false;
  if (f.provider !== undefined && !has(s.providers, f.provider)) return false;
  if (f.tool !== undefined && !has(s.tools, f.tool)) return false;
  // Errors: failed calls, failed tool results (is_error), alerts; not a child's exit code.
  if (f.status === 'error' && s.errors === 0 && s.alerts === 0) return false;
  if (f.status === 'ok' && (s.errors > 0 || s.alerts > 0)) return false;
  if (f.alerts && s.alerts === 0) return false;
  if (f.from !== undefined && s.end < f.from) return false;
  if (f.to !== undefined && s.start > f.to) return false;
  if (f.q !== undefined) {
    const text = s.text ?? '';
    for (const w of f.q.toLowerCase().split(/\s+/).filter(Boolean))
      if (!text.includes(w.replace(/^"|"$/g, ''))) return false;
  }
  return true;
}
