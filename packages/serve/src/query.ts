import type { LlmCallEvent } from '@agentsight/events';
import { costOf, messagesOf, newMessagesFrom, systemOf } from '@agentsight/llm';
import type Database from 'better-sqlite3';
import { BadRequest, limitOf, parseParams, rangeOf } from './params.js';
import { ACTIVITY_US, type Store } from './store.js';

/** What the list view keeps of a payload; the detail endpoint returns all of it. */
const LIST_DATA_MAX = 2048;

type Row = Record<string, unknown>;

function parseJson(s: unknown): unknown {
  if (typeof s !== 'string') return s ?? null;
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function likeArg(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The read side of the API: every function takes parsed URL parameters and returns JSON. */
export class Queries {
  constructor(readonly store: Store) {}

  get db(): Database.Database {
    return this.store.db;
  }

  // Two queries: SQLite answers a lone min() or max() from the index, both together by a scan.
  #span(): { lo: number | null; hi: number | null } {
    const lo = (this.db.prepare('SELECT min(ts) v FROM events').get() as { v: number | null }).v;
    const hi = (this.db.prepare('SELECT max(ts) v FROM events').get() as { v: number | null }).v;
    return { lo, hi };
  }

  stats(sp: URLSearchParams): Row {
    parseParams(sp, {});
    const db = this.db;
    const sp0 = this.#span();
    const span = { first_ts: sp0.lo, last_ts: sp0.hi };
    const bySrc = [...this.store.counts.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([k, n]) => ({ src: k.slice(0, k.indexOf('/')), type: k.slice(k.indexOf('/') + 1), n }));
    const tot: Row = { ...span, n: bySrc.reduce((a, b) => a + b.n, 0), last_id: this.store.lastId };
    const calls = (db.prepare('SELECT count(*) n FROM calls').get() as Row).n;
    const procs = (db.prepare('SELECT count(*) n FROM processes').get() as Row).n;
    return {
      events: tot.n,
      first_ts: tot.first_ts,
      last_ts: tot.last_ts,
      last_id: tot.last_id ?? 0,
      by_type: bySrc,
      calls,
      processes: procs,
    };
  }

  events(sp: URLSearchParams): Row {
    const p = parseParams(sp, {
      src: 'list',
      type: 'list',
      pid: 'int',
      q: 'str',
      from: 'time',
      to: 'time',
      limit: 'uint',
      cursor: 'cursor',
      order: 'order',
      after_id: 'uint',
    });
    const limit = limitOf(p.limit, 100, 1000);
    const { from, to } = rangeOf(p);
    const desc = p.order === 'desc';
    const where: string[] = [];
    const args: unknown[] = [];
    if (p.src) {
      const l = p.src as string[];
      where.push(`src IN (${l.map(() => '?').join(',')})`);
      args.push(...l);
    }
    if (p.type) {
      // "type" accepts bare types (exec) and src/type pairs (proc/exec).
      const parts: string[] = [];
      for (const t of p.type as string[]) {
        const [a, b] = t.includes('/') ? (t.split('/', 2) as [string, string]) : [undefined, t];
        if (a) {
          parts.push('(src = ? AND type = ?)');
          args.push(a, b);
        } else {
          parts.push('type = ?');
          args.push(b);
        }
      }
      where.push(`(${parts.join(' OR ')})`);
    }
    if (p.pid !== undefined) {
      where.push('pid = ?');
      args.push(p.pid);
    }
    if (from !== undefined) {
      where.push('ts >= ?');
      args.push(from);
    }
    if (to !== undefined) {
      where.push('ts <= ?');
      args.push(to);
    }
    if (p.q) {
      where.push("json LIKE ? ESCAPE '\\'");
      args.push(likeArg(p.q as string));
    }
    let order = desc ? 'ts DESC, id DESC' : 'ts ASC, id ASC';
    if (p.after_id !== undefined) {
      if (p.cursor) throw new BadRequest('after_id and cursor cannot be combined');
      // The live feed: what arrived since the last id the page saw, in arrival order.
      where.push('id > ?');
      args.push(p.after_id);
      order = 'id ASC';
    } else if (p.cursor) {
      const [cts, cid] = p.cursor as [number, number];
      where.push(desc ? '(ts, id) < (?, ?)' : '(ts, id) > (?, ?)');
      args.push(cts, cid);
    }
    const sql = `SELECT id, json FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY ${order} LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, limit + 1) as Array<{ id: number; json: string }>;
    const more = rows.length > limit;
    const events = rows.slice(0, limit).map((r) => {
      const ev = JSON.parse(r.json) as Row;
      if (typeof ev.data === 'string' && ev.data.length > LIST_DATA_MAX) {
        ev.data = ev.data.slice(0, LIST_DATA_MAX);
        ev.data_cut = true;
      }
      // `_id` (store order), not `id`: many events carry an `id` of their own.
      return { _id: r.id, ...ev } as Row & { _id: number; ts: number };
    });
    const last = events[events.length - 1];
    return {
      events,
      next: more && last ? `${last.ts}.${last._id}` : null,
      last_id: this.store.lastId,
    };
  }

  event(id: number): Row | undefined {
    const r = this.db.prepare('SELECT id, json FROM events WHERE id = ?').get(id) as
      | { id: number; json: string }
      | undefined;
    return r ? { _id: r.id, ...(JSON.parse(r.json) as Row) } : undefined;
  }

  /** A calls row as the API shows it: tool calls parsed, the cost stored at ingest (or, for a row stored before costs were, computed). */
  callSummary(r: Row): Row {
    const tcs = parseJson(r.tool_calls) ?? [];
    return { ...r, tool_calls: tcs, cost_usd: r.cost_usd ?? costOfRow(r) };
  }

  /** /api/processes rows (argv parsed) matching a condition. */
  processRows(where: string, args: unknown[], tail?: string): Row[] {
    return this.#procRows(where, args, tail);
  }

  calls(sp: URLSearchParams): Row {
    const p = parseParams(sp, {
      pid: 'int',
      session: 'str',
      from: 'time',
      to: 'time',
      limit: 'uint',
      cursor: 'cursor',
      q: 'str',
    });
    const limit = limitOf(p.limit, 200, 1000);
    const { from, to } = rangeOf(p);
    const where: string[] = [];
    const args: unknown[] = [];
    if (p.session !== undefined) {
      where.push('session = ?');
      args.push(p.session);
    }
    if (p.pid !== undefined) {
      where.push('pid = ?');
      args.push(p.pid);
    }
    if (from !== undefined) {
      where.push('start_ts >= ?');
      args.push(from);
    }
    if (to !== undefined) {
      where.push('start_ts <= ?');
      args.push(to);
    }
    if (p.q) {
      where.push("(coalesce(preview,'') || coalesce(model,'') || coalesce(tool_calls,'')) LIKE ? ESCAPE '\\'");
      args.push(likeArg(p.q as string));
    }
    if (p.cursor) {
      const [t, r] = p.cursor as [number, number];
      where.push('(start_ts, rowid) > (?, ?)');
      args.push(t, r);
    }
    const rows = this.db
      .prepare(`SELECT rowid AS rid, * FROM calls ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY start_ts, rowid LIMIT ?`)
      .all(...args, limit + 1) as Row[];
    const more = rows.length > limit;
    const calls = rows.slice(0, limit).map((r) => this.callSummary(r));
    const last = calls[calls.length - 1];
    return { calls, next: more && last ? `${last.start_ts as number}.${last.rid as number}` : null };
  }

  /** One call in full, with the processes each of its tool calls ran. */
  call(id: string, full = true): Row | undefined {
    const r = this.db.prepare('SELECT rowid AS rid, * FROM calls WHERE id = ?').get(id) as Row | undefined;
    if (!r) return undefined;
    const ev = r.event_id ? this.event(r.event_id as number) : undefined;
    const req = (ev?.request ?? undefined) as Row | undefined;
    // The conversation as the UI draws it, normalized: one message per request item.
    let conversation: Row | null = null;
    if (req) {
      const raw = Array.isArray(req.messages) ? (req.messages as unknown[]) : [];
      let messages = messagesOf(r.api as LlmCallEvent['api'], raw);
      let offset = 0;
      if (!full) {
        // Each request repeats the whole conversation so far; what is new in it starts after
        // the last assistant turn. Long sessions would otherwise send it all again per call.
        offset = newMessagesFrom(messages);
        messages = messages.slice(offset);
        req.messages = raw.slice(offset);
        req.messages_offset = offset;
        req.messages_total = raw.length;
      }
      conversation = { system: systemOf(req.system) ?? null, messages, offset, total: raw.length };
    }
    const summary = this.callSummary(r);
    const next = this.db
      .prepare(
        'SELECT id, start_ts FROM calls WHERE pid IS ? AND (start_ts, rowid) > (?, ?) ORDER BY start_ts, rowid LIMIT 1',
      )
      .get(r.pid, r.start_ts, r.rid) as Row | undefined;
    const fd = ev?.fd;
    const peer =
      typeof fd === 'number' && typeof r.pid === 'number' ? this.peer(r.pid, fd, r.start_ts as number) : null;
    return {
      ...summary,
      event: ev ?? null,
      conversation,
      next_id: next?.id ?? null,
      peer,
      tools: this.toolProcesses(summary, next?.start_ts as number | undefined),
    };
  }

  /**
   * Where the socket `fd` of process `pid` was connected, as of time `at`: its latest
   * connect before then (an fd number is reused once closed). The address the call really
   * went to, which the Host header only claims.
   */
  peer(pid: number, fd: number, at: number): Row | null {
    const rows = this.db
      .prepare(`SELECT ts, json FROM events WHERE pid = ? AND ts <= ? AND src = 'proc' AND type = 'connect'
      ORDER BY ts DESC LIMIT 500`)
      .all(pid, at) as Row[];
    for (const row of rows) {
      const e = parseJson(row.json as string) as Row | null;
      // 0, or EINPROGRESS from a non-blocking connect that completes later.
      if (e?.fd === fd && (e.ret === 0 || e.ret === -115))
        return { fd, family: e.family, addr: e.addr ?? null, port: e.port ?? null, ts: row.ts };
    }
    return null;
  }

  #procRows(where: string, args: unknown[], tail = 'ORDER BY start_ts, rid'): Row[] {
    return (this.db.prepare(`SELECT * FROM processes WHERE ${where} ${tail}`).all(...args) as Row[]).map((p) => ({
      ...p,
      argv: parseJson(p.argv),
    }));
  }

  /**
   * Processes caused by each tool call of an LLM call. Correlation links (trace/link,
   * kind tool_process) win; without them, the agent's children started between the end of
   * this response and the next request are attributed, by argv matching when the response
   * asked for several tools at once.
   */
  toolProcesses(call: Row, nextStart: number | undefined): Row[] {
    const tcs = (call.tool_calls as Array<{ id: string | null; name: string; arguments: unknown }>) ?? [];
    if (!tcs.length) return [];
    // The correlator's link key: the tool call id, or `${callId}#${index}` when the API gives none.
    const out = tcs.map((tc, i) => ({
      id: tc.id,
      key: tc.id ?? `${call.id as string}#${i}`,
      name: tc.name,
      arguments: tc.arguments,
      processes: [] as Row[],
      how: 'none',
      confidence: null as number | null,
      reasons: [] as string[],
    }));
    const linkRows = this.db
      .prepare('SELECT * FROM links WHERE kind = ? AND src_ref IN (' + out.map(() => '?').join(',') + ') ORDER BY id')
      .all('tool_process', ...out.map((o) => o.key)) as Row[];
    if (linkRows.length) {
      for (const l of linkRows) {
        const slot = out.find((o) => o.key === l.src_ref);
        if (!slot) continue;
        const dst = parseJson(l.dst);
        const pids = (Array.isArray(dst) ? dst : [dst])
          .map((x) => (typeof x === 'number' ? x : Number(String(x).replace(/^\D+/, ''))))
          .filter(Number.isFinite);
        const byPid = new Map<number, Row>();
        for (const pid of pids) {
          const pr =
            this.#procRows(
              'pid = ? AND start_ts <= ?',
              [pid, (l.ts as number) + 1],
              'ORDER BY start_ts DESC LIMIT 1',
            )[0] ?? this.#procRows('pid = ?', [pid])[0];
          if (pr) byPid.set(pid, pr);
        }
        // Depth within the tool's own tree, for indenting.
        const depthOf = (pr: Row): number => {
          let d = 0;
          let cur = pr;
          while (d < 32) {
            const up = [...byPid.values()].find((x) => x.pid === cur.ppid);
            if (!up) break;
            cur = up;
            d++;
          }
          return d;
        };
        for (const pr of byPid.values())
          if (!slot.processes.some((x) => x.rid === pr.rid)) slot.processes.push({ ...pr, depth: depthOf(pr) });
        slot.how = 'link';
        slot.confidence = l.confidence as number;
        slot.reasons = (parseJson(l.reasons) as string[]) ?? [];
      }
      return out;
    }
    if (call.pid == null) return out;
    const lo = (call.end_ts as number) ?? (call.ts as number);
    const hi = nextStart ?? lo + 10 * 60 * 1_000_000;
    const window = this.#procRows('start_ts >= ? AND start_ts <= ? AND pid != ?', [lo - 50_000, hi, call.pid]);
    // Walk parents inside the window up to the agent: a tool's children stay with the tool.
    const byPid = new Map<number, Row>();
    for (const pr of window) byPid.set(pr.pid as number, pr);
    const rootOf = (pr: Row): { root: Row; depth: number } | undefined => {
      let cur = pr;
      let depth = 0;
      for (let i = 0; i < 64; i++) {
        if (cur.ppid === call.pid) return { root: cur, depth };
        const up = byPid.get(cur.ppid as number);
        if (!up || up === cur) return undefined;
        cur = up;
        depth++;
      }
      return undefined;
    };
    const groups = new Map<Row, Row[]>();
    for (const pr of window) {
      const r = rootOf(pr);
      if (!r) continue;
      const g = groups.get(r.root) ?? [];
      g.push({ ...pr, depth: r.depth });
      groups.set(r.root, g);
    }
    const roots = [...groups.keys()];
    roots.forEach((root, i) => {
      let slot = out.length === 1 ? out[0] : undefined;
      if (!slot) {
        const argv = (root.argv as string[] | null) ?? [];
        slot = out.find((o) => argMatches(o.arguments, argv));
        slot ??= out.length === roots.length ? out[i] : undefined;
      }
      if (!slot) return;
      slot.processes.push(...groups.get(root)!);
      slot.how = 'time+lineage';
    });
    return out;
  }

  processes(sp: URLSearchParams): Row {
    const p = parseParams(sp, { from: 'time', to: 'time', root: 'int', limit: 'uint' });
    const limit = limitOf(p.limit, 5000, 50000);
    const { from, to } = rangeOf(p);
    const where: string[] = ['1'];
    const args: unknown[] = [];
    if (from !== undefined) {
      where.push('coalesce(end_ts, 9e18) >= ?');
      args.push(from);
    }
    if (to !== undefined) {
      where.push('start_ts <= ?');
      args.push(to);
    }
    let rows = this.#procRows(where.join(' AND '), args, `ORDER BY start_ts, rid LIMIT ${limit + 1}`);
    const more = rows.length > limit;
    rows = rows.slice(0, limit);
    if (p.root !== undefined) {
      const keep = new Set<number>([p.root as number]);
      for (const r of rows) if (keep.has(r.ppid as number)) keep.add(r.pid as number);
      rows = rows.filter((r) => keep.has(r.pid as number));
    }
    return { processes: rows, truncated: more };
  }

  process(rid: number): Row | undefined {
    const pr = this.#procRows('rid = ?', [rid])[0];
    if (!pr) return undefined;
    const touches = this.db
      .prepare('SELECT kind, target, count, first_ts, failed FROM touches WHERE rid = ? ORDER BY first_ts LIMIT 2000')
      .all(rid);
    const children = this.#procRows('ppid = ? AND start_ts >= ? AND start_ts <= ?', [
      pr.pid,
      pr.start_ts,
      pr.end_ts ?? 9e18,
    ]);
    const m = this.db
      .prepare(
        'SELECT max(cpu) max_cpu, avg(cpu) avg_cpu, max(rss_kb) max_rss_kb, count(*) samples FROM metrics WHERE pid = ? AND ts >= ? AND ts <= ?',
      )
      .get(pr.pid, pr.start_ts, pr.end_ts ?? 9e18);
    return { ...pr, touches, children, metrics: m };
  }

  timeline(sp: URLSearchParams): Row {
    const p = parseParams(sp, { from: 'time', to: 'time', buckets: 'uint', session: 'str' });
    const buckets = limitOf(p.buckets, 200, 2000);
    // Scoped to a session: its calls, its processes and its agent's, over its time by default.
    const sess =
      p.session === undefined
        ? undefined
        : (this.db.prepare('SELECT id, pid, start_ts, end_ts FROM sessions WHERE id = ?').get(p.session) as
            | { id: string; pid: number | null; start_ts: number; end_ts: number }
            | undefined);
    if (p.session !== undefined && !sess) throw new BadRequest(`session: no session ${String(p.session)}`);
    const span = sess ? { lo: sess.start_ts, hi: sess.end_ts } : this.#span();
    let { from, to } = rangeOf(p);
    from ??= span.lo ?? 0;
    to ??= span.hi ?? from;
    if (to <= from) to = from + 1;
    const w = Math.max(1, Math.ceil((to - from) / buckets));
    const calls = this.db
      .prepare(`SELECT rowid AS rid, id, pid, comm, model, provider, start_ts, end_ts, ttft_ms, duration_ms, state, tool_calls,
        input_tokens, output_tokens, session FROM calls WHERE coalesce(end_ts, ts) >= ? AND start_ts <= ?
        ${sess ? 'AND session = ?' : ''} ORDER BY start_ts LIMIT 5000`)
      .all(from, to, ...(sess ? [sess.id] : [])) as Row[];
    const processes = this.#procRows(
      `coalesce(end_ts, 9e18) >= ? AND start_ts <= ?${sess ? ' AND (session = ? OR pid = ?)' : ''}`,
      [from, to, ...(sess ? [sess.id, sess.pid ?? -1] : [])],
      'ORDER BY start_ts, rid LIMIT 3000',
    );
    // Wide views sum the 100 ms rollup; a view zoomed in finer than that counts raw events.
    const activity =
      w >= ACTIVITY_US
        ? this.db
            .prepare(`SELECT pid, CAST((t - ?) / ? AS INTEGER) AS b, type, sum(n) n FROM activity
          WHERE t >= ? AND t <= ? GROUP BY pid, b, type`)
            .all(from, w, from - (from % ACTIVITY_US), to)
        : this.db
            .prepare(`SELECT pid, CAST((ts - ?) / ? AS INTEGER) AS b, type, count(*) n FROM events
          WHERE src = 'proc' AND type IN ('open', 'connect', 'unlink', 'rename', 'bind', 'listen') AND ts >= ? AND ts <= ?
          GROUP BY pid, b, type`)
            .all(from, w, from, to);
    const alerts = (
      this.db
        .prepare(
          `SELECT json FROM events WHERE src = 'trace' AND type = 'alert' AND ts >= ? AND ts <= ? ORDER BY ts LIMIT 500`,
        )
        .all(from, to) as Array<{ json: string }>
    ).map((r) => {
      const a = JSON.parse(r.json) as Row;
      return { ts: a.ts, pid: a.pid ?? null, rule: a.rule, severity: a.severity, message: a.message };
    });
    const pids = sess ? new Set(processes.map((x) => x.pid)) : undefined;
    return {
      from,
      to,
      bucket_us: w,
      calls: calls.map((c) => ({ ...c, tool_calls: parseJson(c.tool_calls) })),
      processes,
      activity: pids ? (activity as Row[]).filter((a) => pids.has(a.pid)) : activity,
      alerts,
      span,
    };
  }

  metrics(sp: URLSearchParams): Row {
    const p = parseParams(sp, { from: 'time', to: 'time', buckets: 'uint', pid: 'int' });
    const buckets = limitOf(p.buckets, 120, 2000);
    const span = this.#span();
    let { from, to } = rangeOf(p);
    from ??= span.lo ?? 0;
    to ??= span.hi ?? from;
    if (to <= from) to = from + 1;
    const w = Math.max(1, Math.ceil((to - from) / buckets));
    const pidClause = p.pid !== undefined ? 'AND m.pid = ?' : '';
    const pidArgs = p.pid !== undefined ? [p.pid] : [];
    const usage = this.db
      .prepare(`SELECT m.pid, CAST((m.ts - ?) / ? AS INTEGER) AS b, avg(m.cpu) cpu, max(m.rss_kb) rss_kb FROM metrics m
      WHERE m.ts >= ? AND m.ts <= ? ${pidClause} GROUP BY m.pid, b ORDER BY m.pid, b`)
      .all(from, w, from, to, ...pidArgs) as Row[];
    const comm = this.db.prepare('SELECT comm, argv FROM processes WHERE pid = ? ORDER BY start_ts DESC LIMIT 1');
    const series = new Map<number, Row>();
    for (const u of usage) {
      let s = series.get(u.pid as number);
      if (!s) {
        const c = comm.get(u.pid) as Row | undefined;
        s = { pid: u.pid, comm: c?.comm ?? null, points: [] as unknown[] };
        series.set(u.pid as number, s);
      }
      (s.points as unknown[]).push([from + (u.b as number) * w, u.cpu, u.rss_kb]);
    }
    const callRows = this.db
      .prepare(`SELECT ts, start_ts, model, provider, input_tokens, output_tokens, cache_read, cache_write FROM calls
      WHERE start_ts >= ? AND start_ts <= ? ORDER BY start_ts`)
      .all(from, to) as Row[];
    const tok = new Map<number, [number, number, number]>();
    for (const c of callRows) {
      const b = Math.floor(((c.start_ts as number) - from) / w);
      const cur = tok.get(b) ?? [0, 0, 0];
      cur[0] += (c.input_tokens as number) ?? 0;
      cur[1] += (c.output_tokens as number) ?? 0;
      cur[2] += costOfRow(c) ?? 0;
      tok.set(b, cur);
    }
    const tokens = [...tok.entries()].sort((a, b) => a[0] - b[0]).map(([b, v]) => [from! + b * w, ...v]);
    return { from, to, bucket_us: w, processes: [...series.values()], tokens };
  }
}

/**
 * A call row's estimated cost (its token columns hold the normalized counts), at the price in
 * force at the call's time (its event's `ts`, as callCost reads it), or null when unpriced.
 */
function costOfRow(r: Row): number | null {
  const n = (k: string) => (typeof r[k] === 'number' ? (r[k] as number) : undefined);
  return (
    costOf(
      r.model as string | null,
      r.provider as string | null,
      {
        input: n('input_tokens'),
        output: n('output_tokens'),
        cache_read: n('cache_read'),
        cache_write: n('cache_write'),
      },
      undefined,
      n('ts') ?? n('start_ts'),
    ) ?? null
  );
}

const LAUNCHERS = new Set(['sh', 'bash', 'zsh', 'dash', 'env', 'node', 'python', 'python3', 'sudo', 'timeout', 'nice']);

function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === 'object') for (const x of Object.values(v)) strings(x, out);
  return out;
}

/** Does a tool call's argument text mention what this argv ran (beyond the shell running it)? */
export function argMatches(args: unknown, argv: string[]): boolean {
  const text = strings(args).join('\n');
  if (!text) return false;
  return argv.some((a, i) => {
    const base = a.split('/').pop() ?? a;
    if (a.length < 2 || a.startsWith('-') || (i === 0 && LAUNCHERS.has(base))) return false;
    return (
      text.includes(a) ||
      (i === 0 && new RegExp(`(^|[\\s/;&|])${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\s|$)`).test(text))
    );
  });
}
