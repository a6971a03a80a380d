// The session-scale API (api.ts): the sessions page (search and filters, paginated), one
// session's page, the overview and the runs. Everything here reads the tables the store
// keeps per session at ingest (`sessions`, `session_tags`, the `search` FTS5 index,
// `alerts`, `runs`), so that a page costs a few index lookups whatever the capture's size.

import { FilterError, parseFilter, type SessionFilter } from '@agentsight/trace';
import type Database from 'better-sqlite3';
import type { Overview, Run, SessionDetail, SessionPage, SessionRow } from './api.js';
import { BadRequest, limitOf, parseParams } from './params.js';
import type { Queries } from './query.js';
import { SEARCH_SPAN } from './store.js';

type Row = Record<string, unknown>;

/** The URL parameters of the filters (api.ts SessionFilter), as parseParams names them. */
export const FILTER_PARAMS = {
  q: 'str',
  agent: 'str',
  model: 'str',
  provider: 'str',
  tool: 'str',
  host: 'str',
  status: 'str',
  alerts: 'str',
  from: 'str',
  to: 'str',
} as const;

/** Parse the shared filter from URL parameters (the one parser, @agentsight/trace's). */
export function filterOf(p: Partial<Record<string, unknown>>): SessionFilter {
  try {
    return parseFilter((n) => (typeof p[n] === 'string' ? (p[n] as string) : undefined));
  } catch (e) {
    if (e instanceof FilterError) throw new BadRequest(e.message);
    throw e;
  }
}

/**
 * A search box's words as an FTS5 query: each word quoted (so `foo-bar`, `a.b` and `"` are
 * words, not syntax), all of them required. Text that already uses FTS5 syntax (quotes,
 * AND/OR/NOT/NEAR, a prefix `*`, a column `:`) is passed as written.
 */
export function ftsQuery(q: string): string {
  if (/["*()^]|\b(?:AND|OR|NOT|NEAR)\b/.test(q)) return q;
  return q
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => `"${w.replace(/"/g, '""')}"`)
    .join(' ');
}

/** The words of a search (FTS5 operators and quotes dropped), for snippets. */
export function queryWords(q: string): string[] {
  return q
    .replace(/\b(?:AND|OR|NOT|NEAR)\b|["*()^:]/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/**
 * A cut of `text` around the first of `words` in it (case-insensitive), each occurrence
 * between \u0002 and \u0003, as the API's `snippet`.
 */
export function snippetOf(text: string, words: string[], width = 120): string {
  const lower = text.toLowerCase();
  let at = -1;
  for (const w of words) {
    const i = lower.indexOf(w.toLowerCase());
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  const from = Math.max(0, Math.max(at, 0) - width / 2);
  let cut = text.slice(from, from + width);
  const esc = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).filter(Boolean);
  if (esc.length) cut = cut.replace(new RegExp(esc.join('|'), 'gi'), (m) => `\u0002${m}\u0003`);
  return `${from > 0 ? '…' : ''}${cut}${from + width < text.length ? '…' : ''}`.replace(/\s+/g, ' ');
}

/** The SQL condition (over `sessions s`) for a filter, and its arguments. */
export function filterSql(f: SessionFilter, matched?: number[]): { where: string[]; args: unknown[] } {
  const where: string[] = [];
  const args: unknown[] = [];
  if (f.agent !== undefined) {
    where.push('s.agent = ?');
    args.push(f.agent);
  }
  if (f.host !== undefined) {
    where.push('s.host = ?');
    args.push(f.host);
  }
  for (const kind of ['model', 'provider', 'tool'] as const) {
    if (f[kind] === undefined) continue;
    where.push('s.id IN (SELECT session FROM session_tags WHERE kind = ? AND value = ?)');
    args.push(kind, f[kind]);
  }
  // Errors: failed calls, failed tool results, alerts (sessionMatches says the same).
  if (f.status === 'error') where.push('(s.errors > 0 OR s.alerts > 0)');
  if (f.status === 'ok') where.push('s.errors = 0 AND s.alerts = 0');
  if (f.alerts) where.push('s.alerts > 0');
  if (f.from !== undefined) {
    where.push('s.end_ts >= ?');
    args.push(f.from);
  }
  if (f.to !== undefined) {
    where.push('s.start_ts <= ?');
    args.push(f.to);
  }
  if (f.q !== undefined && matched) {
    where.push('s.rid IN (SELECT value FROM json_each(?))');
    args.push(JSON.stringify(matched));
  } else if (f.q !== undefined) {
    // Row ids alone name the sessions (store.ts #index): no lookup per match.
    where.push(`s.rid IN (SELECT rowid / ${SEARCH_SPAN} FROM search WHERE search MATCH ?)`);
    args.push(ftsQuery(f.q));
  }
  return { where, args };
}

/** Run a statement whose FTS5 query came from a user: a syntax error is theirs (400), not ours. */
function userQuery<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const m = (e as Error).message;
    if (/fts5|unterminated string|no such column/i.test(m)) throw new BadRequest(`q: ${m}`);
    throw e;
  }
}

const SESSION_COLS = `s.rid, s.id, s.run, s.agent, s.host, s.pid, s.start_ts, s.end_ts, s.title, s.calls, s.tool_calls,
  s.errors, s.alerts, s.tokens_in, s.tokens_out, s.cost, s.parent_session, s.parent_tool`;

export class SessionQueries {
  constructor(readonly q: Queries) {}

  get db(): Database.Database {
    return this.q.db;
  }

  /** API rows for session table rows: their models, providers and children in two queries. */
  rows(rows: Row[]): SessionRow[] {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id as string);
    const marks = ids.map(() => '?').join(',');
    const tags = this.db
      .prepare(`SELECT kind, value, session FROM session_tags WHERE session IN (${marks}) AND kind != 'tool'`)
      .all(...ids) as Array<{ kind: string; value: string; session: string }>;
    const kids = this.db
      .prepare(`SELECT id, parent_session FROM sessions WHERE parent_session IN (${marks}) ORDER BY start_ts`)
      .all(...ids) as Array<{ id: string; parent_session: string }>;
    return rows.map((r) => {
      const id = r.id as string;
      const children = kids.filter((k) => k.parent_session === id).map((k) => k.id);
      const out: SessionRow = {
        id,
        start: r.start_ts as number,
        end: r.end_ts as number,
        models: tags.filter((t) => t.session === id && t.kind === 'model').map((t) => t.value),
        providers: tags.filter((t) => t.session === id && t.kind === 'provider').map((t) => t.value),
        calls: r.calls as number,
        toolCalls: r.tool_calls as number,
        errors: r.errors as number,
        alerts: r.alerts as number,
        tokensIn: r.tokens_in as number,
        tokensOut: r.tokens_out as number,
      };
      if (r.run != null) out.run = r.run as string;
      if (r.agent != null) out.agent = r.agent as string;
      if (r.host != null) out.host = r.host as string;
      if (r.pid != null) out.pid = r.pid as number;
      if (r.title != null) out.title = r.title as string;
      if (r.cost != null) out.cost = r.cost as number;
      if (r.parent_session != null)
        out.parent = {
          session: r.parent_session as string,
          ...(r.parent_tool != null ? { toolCall: r.parent_tool as string } : {}),
        };
      if (children.length) out.children = children;
      return out;
    });
  }

  /** GET /api/sessions: newest first, filtered, by cursor. */
  list(sp: URLSearchParams): SessionPage {
    const p = parseParams(sp, { ...FILTER_PARAMS, limit: 'uint', cursor: 'cursor' });
    const limit = limitOf(p.limit, 50, 500);
    const f = filterOf(p);
    // The sessions the words are in, once, for both the count and the page.
    const matched =
      f.q === undefined
        ? undefined
        : userQuery(() =>
            (
              this.db
                .prepare(`SELECT DISTINCT rowid / ${SEARCH_SPAN} r FROM search WHERE search MATCH ?`)
                .all(ftsQuery(f.q!)) as Array<{ r: number }>
            ).map((x) => x.r),
          );
    const { where, args } = filterSql(f, matched);
    const total = userQuery(
      () =>
        (
          this.db
            .prepare(`SELECT count(*) n FROM sessions s ${where.length ? `WHERE ${where.join(' AND ')}` : ''}`)
            .get(...args) as { n: number }
        ).n,
    );
    if (p.cursor) {
      const [t, rid] = p.cursor as [number, number];
      where.push('(s.start_ts, s.rid) < (?, ?)');
      args.push(t, rid);
    }
    const rows = userQuery(
      () =>
        this.db
          .prepare(`SELECT ${SESSION_COLS} FROM sessions s ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY s.start_ts DESC, s.rid DESC LIMIT ?`)
          .all(...args, limit + 1) as Row[],
    );
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    const sessions = this.rows(page);
    if (f.q !== undefined && sessions.length) {
      // Each session's first text holding the query's longest word, cut around it. Read from
      // the session's own rows (a row-id range): FTS5's snippet() over a word in every row of
      // a large store walks its whole list of matches, per session.
      const words = queryWords(f.q);
      const longest = [...words].sort((a, b) => b.length - a.length)[0];
      if (longest) {
        const st = this.db.prepare(
          "SELECT text FROM search_text WHERE id BETWEEN ? AND ? AND text LIKE ? ESCAPE '\\' LIMIT 1",
        );
        page.forEach((r, i) => {
          const lo = (r.rid as number) * SEARCH_SPAN;
          const hit = st.get(lo, lo + SEARCH_SPAN - 1, `%${longest.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) as
            | { text: string }
            | undefined;
          if (hit) sessions[i]!.snippet = snippetOf(hit.text, words);
        });
      }
    }
    const last = page[page.length - 1];
    return { sessions, total, ...(more && last ? { next: `${last.start_ts as number}.${last.rid as number}` } : {}) };
  }

  /** GET /api/sessions/:id: the session, its run, calls (with their tools' processes), process tree, sub-agents. */
  detail(id: string, sp: URLSearchParams): SessionDetail | undefined {
    parseParams(sp, {});
    const r = this.db.prepare(`SELECT ${SESSION_COLS} FROM sessions s WHERE s.id = ?`).get(id) as Row | undefined;
    if (!r) return undefined;
    const session = this.rows([r])[0]!;
    const run = r.run != null ? this.run(r.run as string) : undefined;
    const callRows = this.db
      .prepare('SELECT rowid AS rid, * FROM calls WHERE session = ? ORDER BY start_ts, rowid LIMIT 2000')
      .all(id) as Row[];
    const calls = callRows.map((c, i) => {
      const summary = this.q.callSummary(c);
      return { ...summary, tools: this.q.toolProcesses(summary, callRows[i + 1]?.start_ts as number | undefined) };
    });
    const processes = this.q.processRows(
      `session = ? OR (pid = ? AND start_ts <= ? AND coalesce(end_ts, 9e18) >= ?)`,
      [id, r.pid ?? -1, r.end_ts, r.start_ts],
      'ORDER BY start_ts, rid LIMIT 5000',
    );
    const children = this.rows(
      this.db
        .prepare(`SELECT ${SESSION_COLS} FROM sessions s WHERE s.parent_session = ? ORDER BY s.start_ts`)
        .all(id) as Row[],
    );
    return { session, ...(run ? { run } : {}), calls, processes, children };
  }

  run(id: string): Run | undefined {
    const r = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return r ? runOf(r) : undefined;
  }

  /** GET /api/runs: newest first. */
  runs(sp: URLSearchParams): { runs: Run[] } {
    const p = parseParams(sp, { limit: 'uint' });
    const limit = limitOf(p.limit, 200, 5000);
    const rows = this.db.prepare('SELECT * FROM runs ORDER BY start_ts DESC LIMIT ?').all(limit) as Row[];
    return { runs: rows.map(runOf) };
  }

  /** GET /api/overview: the dashboard, over the calls of the sessions the filter keeps. */
  overview(sp: URLSearchParams): Overview {
    const p = parseParams(sp, FILTER_PARAMS);
    const f = filterOf(p);
    const { where: sw, args: sargs } = filterSql({ ...f, from: undefined, to: undefined });
    const cw: string[] = [];
    const cargs: unknown[] = [];
    if (sw.length) {
      cw.push(`c.session IN (SELECT s.id FROM sessions s WHERE ${sw.join(' AND ')})`);
      cargs.push(...sargs);
    }
    let from = f.from;
    let to = f.to;
    if (from === undefined || to === undefined) {
      const span = userQuery(
        () =>
          this.db
            .prepare(
              `SELECT min(c.start_ts) lo, max(coalesce(c.end_ts, c.ts)) hi FROM calls c ${cw.length ? `WHERE ${cw.join(' AND ')}` : ''}`,
            )
            .get(...cargs) as { lo: number | null; hi: number | null },
      );
      from ??= span.lo ?? 0;
      to ??= span.hi ?? from;
    }
    if (to < from) to = from;
    cw.push('c.start_ts >= ? AND c.start_ts <= ?');
    cargs.push(from, to);
    const W = `WHERE ${cw.join(' AND ')}`;
    const bucket = bucketFor(to - from);
    const all = <T>(sql: string, ...extra: unknown[]) =>
      userQuery(() => this.db.prepare(sql).all(...extra, ...cargs) as T[]);
    const cost = (r: { cost: number | null; priced: number }) => (r.priced ? { cost: r.cost ?? 0 } : {});
    const byModel = all<Row & { cost: number | null; priced: number }>(
      `SELECT coalesce(c.model, '(unknown)') model, c.provider, count(*) calls, coalesce(sum(c.input_tokens), 0) tin,
        coalesce(sum(c.output_tokens), 0) tout, sum(c.cost_usd) cost, count(c.cost_usd) priced
       FROM calls c ${W} AND c.state != 'streaming' GROUP BY c.model, c.provider ORDER BY coalesce(sum(c.cost_usd), 0) DESC, count(*) DESC`,
    ).map((r) => ({
      model: r.model as string,
      ...(r.provider != null ? { provider: r.provider as string } : {}),
      calls: r.calls as number,
      tokensIn: r.tin as number,
      tokensOut: r.tout as number,
      ...cost(r),
    }));
    const byAgent = all<Row & { cost: number | null; priced: number }>(
      `SELECT coalesce(s.agent, '(unknown)') agent, count(DISTINCT c.session) sessions, count(*) calls,
        coalesce(sum(c.input_tokens), 0) tin, coalesce(sum(c.output_tokens), 0) tout, sum(c.cost_usd) cost,
        count(c.cost_usd) priced
       FROM calls c LEFT JOIN sessions s ON s.id = c.session ${W} AND c.state != 'streaming'
       GROUP BY s.agent ORDER BY coalesce(sum(c.cost_usd), 0) DESC, count(*) DESC`,
    ).map((r) => ({
      agent: r.agent as string,
      sessions: r.sessions as number,
      calls: r.calls as number,
      tokensIn: r.tin as number,
      tokensOut: r.tout as number,
      ...cost(r),
    }));
    const byDay = all<Row & { cost: number | null; priced: number }>(
      `SELECT date(c.start_ts / 1000000, 'unixepoch') day, count(*) calls, coalesce(sum(c.input_tokens), 0) tin,
        coalesce(sum(c.output_tokens), 0) tout, sum(c.cost_usd) cost, count(c.cost_usd) priced
       FROM calls c ${W} AND c.state != 'streaming' GROUP BY day ORDER BY day`,
    ).map((r) => ({
      day: r.day as string,
      calls: r.calls as number,
      tokensIn: r.tin as number,
      tokensOut: r.tout as number,
      ...cost(r),
    }));
    const series = all<Row & { cost: number | null; priced: number }>(
      `SELECT CAST((c.start_ts - ?) / ? AS INTEGER) b, count(*) calls, sum(c.state = 'error') errors,
        coalesce(sum(c.input_tokens), 0) tin, coalesce(sum(c.output_tokens), 0) tout, sum(c.cost_usd) cost,
        count(c.cost_usd) priced
       FROM calls c ${W} AND c.state != 'streaming' GROUP BY b ORDER BY b`,
      from,
      bucket,
    ).map((r) => ({
      t: from! + (r.b as number) * bucket,
      calls: r.calls as number,
      errors: (r.errors as number) ?? 0,
      tokensIn: r.tin as number,
      tokensOut: r.tout as number,
      ...cost(r),
    }));
    const topTools = all<Row>(
      `SELECT json_extract(j.value, '$.name') tool, count(*) calls FROM calls c, json_each(c.tool_calls) j ${W}
       GROUP BY tool ORDER BY calls DESC LIMIT 20`,
    );
    // Failed tool results (is_error in the request that carried them), over the same sessions and time.
    const ew = ['e.ts >= ? AND e.ts <= ?'];
    const eargs: unknown[] = [from, to];
    if (sw.length) {
      ew.push(`e.session IN (SELECT s.id FROM sessions s WHERE ${sw.join(' AND ')})`);
      eargs.push(...sargs);
    }
    const toolErrors = new Map(
      userQuery(
        () =>
          this.db
            .prepare(`SELECT e.tool, count(*) n FROM tool_errors e WHERE ${ew.join(' AND ')} GROUP BY e.tool`)
            .all(...eargs) as Array<{ tool: string; n: number }>,
      ).map((r) => [r.tool, r.n]),
    );
    const topToolsOut = topTools.map((r) => ({
      tool: String(r.tool),
      calls: r.calls as number,
      errors: toolErrors.get(String(r.tool)) ?? 0,
    }));
    const slowest = all<Row>(
      `SELECT c.id, c.session, c.model, c.start_ts, c.duration_ms FROM calls c ${W} AND c.duration_ms IS NOT NULL
       ORDER BY c.duration_ms DESC LIMIT 10`,
    ).map((r) => ({
      id: r.id as string,
      ...(r.session != null ? { session: r.session as string } : {}),
      ...(r.model != null ? { model: r.model as string } : {}),
      start: r.start_ts as number,
      durationUs: Math.round((r.duration_ms as number) * 1000),
    }));
    const aw = ['a.ts >= ? AND a.ts <= ?'];
    const aargs: unknown[] = [from, to];
    if (sw.length) {
      aw.push(`a.session IN (SELECT s.id FROM sessions s WHERE ${sw.join(' AND ')})`);
      aargs.push(...sargs);
    }
    const alerts = userQuery(
      () =>
        this.db
          .prepare(
            `SELECT a.ts, a.rule, a.severity, a.session, a.message FROM alerts a WHERE ${aw.join(' AND ')} ORDER BY a.ts DESC LIMIT 100`,
          )
          .all(...aargs) as Row[],
    ).map((r) => ({
      ts: r.ts as number,
      rule: String(r.rule),
      ...(r.severity != null ? { severity: r.severity as string } : {}),
      ...(r.session != null ? { session: r.session as string } : {}),
      ...(r.message != null ? { message: r.message as string } : {}),
    }));
    return { from, to, bucket, byModel, byAgent, byDay, series, topTools: topToolsOut, slowest, alerts };
  }
}

function runOf(r: Row): Run {
  return {
    id: r.id as string,
    start: r.start_ts as number,
    ...(r.host != null ? { host: r.host as string } : {}),
    ...(r.command != null ? { command: r.command as string } : {}),
    ...(r.end_ts != null ? { end: r.end_ts as number } : {}),
    ...(r.capture != null ? { capture: r.capture as string } : {}),
  };
}

const STEPS_US = [1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400].map((s) => s * 1e6);

/** The series' bucket: the smallest round width (a second … a week) giving at most 120 points. */
export function bucketFor(spanUs: number): number {
  return STEPS_US.find((w) => spanUs / w <= 120) ?? STEPS_US[STEPS_US.length - 1]!;
}
