// `agentsight report sessions` and `report export`: the sessions of a capture (the session
// model of @agentsight/trace, which the store and OTLP share), filtered as the web UI filters
// them (the same SessionFilter and parser), and the calls, sessions and tool calls with the
// processes they ran, as JSON lines or CSV.
import type { LlmCallEvent } from '@agentsight/events';
import { usageOf } from '@agentsight/llm';
import { type SessionFilter, sessionMatches } from '@agentsight/trace';
import type { ProcessRow, Report } from './report.js';

/** One agent session, in the fields and names of the UI's SessionRow (as-serve api.ts). */
export interface SessionSummary {
  id: string;
  run?: string;
  agent?: string;
  host?: string;
  pid?: number;
  start: number;
  end: number;
  title?: string;
  models: string[];
  providers: string[];
  tools: string[];
  calls: number;
  toolCalls: number;
  errors: number;
  alerts: number;
  tokensIn: number;
  tokensOut: number;
  /** USD; absent when no call of it could be priced. */
  cost?: number;
  parent?: { session: string; toolCall?: string };
  children?: string[];
}

export interface ToolCallRow {
  session: string;
  call: string;
  ts: number;
  /** The provider's id of the tool call (its result names it). */
  tool_id: string | null;
  name: string;
  arguments: unknown;
  /** The processes it ran: by the correlator's links, else the agent's children in the tool's window. */
  processes: Array<Pick<ProcessRow, 'pid' | 'ppid' | 'comm' | 'argv' | 'exit_code' | 'signal' | 'start' | 'end'>>;
}

export interface CallRow {
  id: string;
  session: string | null;
  run: string | null;
  ts: number;
  start: number;
  duration_ms: number | null;
  pid: number | null;
  comm: string | null;
  provider: string;
  api: string;
  model: string | null;
  status: number;
  error: boolean;
  tokens_in: number;
  tokens_out: number;
  cache_read: number;
  cache_write: number;
  cost_usd: number | null;
  tools: string[];
  prompt: string | null;
}

const failed = (c: LlmCallEvent) => c.status >= 400 || c.error !== undefined;
const endOf = (c: LlmCallEvent) => Math.round((c.timing?.start ?? c.ts) + (c.timing?.duration_ms ?? 0) * 1000);

interface Acc extends SessionSummary {
  text: string[];
  priced: boolean;
}

/** The sessions of what a Report has read, each with what the filters look at. */
export class Sessions {
  readonly list: SessionSummary[];
  readonly #text = new Map<string, string>();
  readonly #calls = new Map<string, LlmCallEvent[]>();

  constructor(readonly report: Report) {
    const by = new Map<string, Acc>();
    const host = new Map(report.runs.map((r) => [r.id, r.host]));
    for (const c of report.calls) {
      const w = report.where.get(c.id);
      const id = w?.session ?? `pid:${c.pid ?? c.conn}`;
      let s = by.get(id);
      const start = c.timing?.start ?? c.ts;
      if (!s) {
        const h = w?.run ? host.get(w.run) : undefined;
        s = {
          id,
          start,
          end: endOf(c),
          models: [],
          providers: [],
          tools: [],
          calls: 0,
          toolCalls: 0,
          errors: 0,
          alerts: 0,
          tokensIn: 0,
          tokensOut: 0,
          text: [],
          priced: false,
          ...(w?.run ? { run: w.run } : {}),
          ...(w?.agent ? { agent: w.agent } : {}),
          ...(h ? { host: h } : {}),
          ...(w?.pid !== undefined ? { pid: w.pid } : {}),
          ...(w?.parent ? { parent: w.parent } : {}),
        };
        by.set(id, s);
      }
      (this.#calls.get(id) ?? this.#calls.set(id, []).get(id)!).push(c);
      s.start = Math.min(s.start, start);
      s.end = Math.max(s.end, endOf(c));
      if (!s.title && w?.prompt) s.title = w.prompt.slice(0, 200);
      if (c.model && !s.models.includes(c.model)) s.models.push(c.model);
      if (!s.providers.includes(c.provider)) s.providers.push(c.provider);
      s.calls++;
      const tcs = c.response?.tool_calls ?? [];
      s.toolCalls += tcs.length;
      for (const tc of tcs) if (!s.tools.includes(tc.name)) s.tools.push(tc.name);
      if (failed(c)) s.errors++;
      s.errors += w?.toolErrors?.length ?? 0;
      const u = usageOf(c);
      s.tokensIn += u.input ?? 0;
      s.tokensOut += u.output ?? 0;
      const cost = report.costOf(c);
      if (cost !== undefined) {
        s.cost = (s.cost ?? 0) + cost;
        s.priced = true;
      }
      if (w?.prompt) s.text.push(w.prompt);
      s.text.push(c.response?.text ?? '');
      for (const tc of tcs) s.text.push(tc.name, JSON.stringify(tc.arguments));
    }
    for (const p of report.procs.values()) {
      const s = p.session ? by.get(p.session) : undefined;
      if (!s) continue;
      s.text.push(p.argv.join(' '));
    }
    for (const f of report.filesWritten) {
      const sid = report.procs.get(f.pid)?.session;
      if (sid) by.get(sid)?.text.push(f.to ?? f.path);
    }
    for (const a of report.alerts) if (a.session) by.get(a.session)!.alerts++;
    for (const s of by.values()) {
      if (s.parent) {
        const up = by.get(s.parent.session);
        if (up) (up.children ??= []).push(s.id);
      }
      this.#text.set(s.id, s.text.join('\n').toLowerCase());
    }
    this.list = [...by.values()]
      .map(({ text: _t, priced: _p, ...s }) => s)
      .sort((a, b) => b.start - a.start || (a.id < b.id ? -1 : 1));
  }

  /** The sessions a filter keeps, newest first. */
  filter(f: SessionFilter): SessionSummary[] {
    return this.list.filter((s) => sessionMatches({ ...s, text: this.#text.get(s.id) ?? '' }, f));
  }

  /** Calls of the sessions a filter keeps, in start order. */
  calls(f: SessionFilter): CallRow[] {
    const keep = new Set(this.filter(f).map((s) => s.id));
    const out: CallRow[] = [];
    for (const s of keep) {
      for (const c of this.#calls.get(s) ?? []) {
        const u = usageOf(c);
        const w = this.report.where.get(c.id);
        out.push({
          id: c.id,
          session: w?.session ?? s,
          run: w?.run ?? null,
          ts: c.ts,
          start: c.timing?.start ?? c.ts,
          duration_ms: c.timing?.duration_ms ?? null,
          pid: c.pid ?? null,
          comm: c.comm ?? null,
          provider: c.provider,
          api: c.api,
          model: c.model,
          status: c.status,
          error: failed(c),
          tokens_in: u.input ?? 0,
          tokens_out: u.output ?? 0,
          cache_read: u.cache_read ?? 0,
          cache_write: u.cache_write ?? 0,
          cost_usd: this.report.costOf(c) ?? null,
          tools: (c.response?.tool_calls ?? []).map((t) => t.name),
          prompt: w?.prompt ?? null,
        });
      }
    }
    return out.sort((a, b) => a.start - b.start);
  }

  /** Tool calls of the sessions a filter keeps, each with the processes it ran. */
  tools(f: SessionFilter): ToolCallRow[] {
    const keep = this.filter(f);
    const out: ToolCallRow[] = [];
    const procs = [...this.report.procs.values()];
    for (const s of keep) {
      const calls = this.#calls.get(s.id) ?? [];
      calls.forEach((c, i) => {
        const tcs = c.response?.tool_calls ?? [];
        const lo = endOf(c);
        const hi = calls[i + 1]?.timing?.start ?? Number.MAX_SAFE_INTEGER;
        // Without links: the session's processes started in this call's tool window.
        const window = procs.filter((p) => p.session === s.id && p.start >= lo - 50_000 && p.start <= hi);
        tcs.forEach((tc, j) => {
          const linked = this.report.toolLinks.get(tc.id ?? `${c.id}#${j}`);
          const ps = linked
            ? linked.map((pid) => this.report.procs.get(pid)).filter((p): p is ProcessRow => !!p)
            : tcs.length === 1
              ? window
              : [];
          out.push({
            session: s.id,
            call: c.id,
            ts: lo,
            tool_id: tc.id,
            name: tc.name,
            arguments: tc.arguments,
            processes: ps.map((p) => ({
              pid: p.pid,
              ppid: p.ppid,
              comm: p.comm,
              argv: p.argv,
              exit_code: p.exit_code,
              signal: p.signal,
              start: p.start,
              end: p.end,
            })),
          });
        });
      });
    }
    return out.sort((a, b) => a.ts - b.ts);
  }
}

/** One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break; objects as JSON. */
function cell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV: a header of the union of their keys (first-seen order), then one line each. */
export function toCsv(rows: object[]): string {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const lines = [cols.map(cell).join(',')];
  for (const r of rows) lines.push(cols.map((c) => cell((r as Record<string, unknown>)[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Rows as JSON lines. */
export function toJsonl(rows: object[]): string {
  return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
}

const usd = (x: number | undefined) =>
  x === undefined ? '?' : x < 0.01 && x > 0 ? `$${x.toFixed(4)}` : `$${x.toFixed(2)}`;
const when = (us: number) => new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19);

/** `report sessions` as text: one line per session, sub-agents indented under their parent. */
export function formatSessions(rows: SessionSummary[]): string {
  if (!rows.length) return 'no sessions';
  const ids = new Set(rows.map((r) => r.id));
  const kids = new Map<string, SessionSummary[]>();
  for (const r of rows)
    if (r.parent && ids.has(r.parent.session))
      (kids.get(r.parent.session) ?? kids.set(r.parent.session, []).get(r.parent.session)!).push(r);
  const lines: string[] = [];
  const line = (r: SessionSummary, depth: number) => {
    const pad = '  '.repeat(depth);
    const title = (r.title ?? '').replace(/\s+/g, ' ').slice(0, 60);
    lines.push(
      `${pad}${depth ? '└ ' : ''}${when(r.start)}  ${(r.agent ?? '?').padEnd(8)} ${String(r.calls).padStart(4)} calls ${String(
        r.toolCalls,
      ).padStart(4)} tools ${String(r.errors).padStart(3)} err  ${String(r.tokensIn).padStart(9)} in ${String(
        r.tokensOut,
      ).padStart(8)} out ${usd(r.cost).padStart(9)}  ${r.models.join(',')}${title ? `  "${title}"` : ''}`,
    );
    lines.push(
      `${pad}${depth ? '  ' : ''}  id ${r.id}${r.parent?.toolCall ? ` (from tool call ${r.parent.toolCall})` : ''}`,
    );
    for (const k of kids.get(r.id) ?? []) line(k, depth + 1);
  };
  for (const r of rows) if (!r.parent || !ids.has(r.parent.session)) line(r, 0);
  return lines.join('\n');
}
