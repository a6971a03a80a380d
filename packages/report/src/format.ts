import type { Report, Summary, TokenRow } from './report.js';

/** Align columns: numbers (and cells starting with $) right-aligned, text left. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  // Amounts (12,345 / $0.0011 / $1.20* / -) line up on the right; dates and names stay left.
  const right = headers.map(
    (_, i) =>
      rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^(\$?[\d,]+(\.\d+)?\*?|-)$/.test(String(r[i]))),
  );
  return cells
    .map((r) =>
      r
        .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export const usd = (n: number | null | undefined) =>
  n == null ? '-' : n < 0.01 && n > 0 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`;
const int = (n: number) => n.toLocaleString('en-US');
const time = (us: number | null) =>
  us == null ? '-' : new Date(us / 1000).toISOString().replace('T', ' ').replace('Z', '');

export function formatTokens(rows: TokenRow[], by: string): string {
  return table(
    [by, 'calls', 'errors', 'input', 'output', 'cache read', 'cache write', 'reasoning', 'est. cost'],
    rows.map((r) => [
      r.key,
      r.calls,
      r.errors,
      int(r.input),
      int(r.output),
      int(r.cache_read),
      int(r.cache_write),
      int(r.reasoning),
      usd(r.cost) + (r.unpriced && r.cost !== null ? '*' : ''),
    ]),
  );
}

/** The few lines `agentsight exec` prints at exit and `report summary` prints. */
export function summaryLines(s: Summary): string[] {
  const tools = Object.entries(s.tool_calls)
    .sort((a, b) => b[1] - a[1])
    .map(([n, c]) => `${n}×${c}`)
    .join(', ');
  const lines = [
    `llm calls   ${s.llm_calls}${s.llm_errors ? ` (${s.llm_errors} failed)` : ''}${s.incomplete_calls ? ` (${s.incomplete_calls} incomplete)` : ''}${s.models.length ? `  models: ${s.models.join(', ')}` : ''}`,
    `tokens      in ${int(s.tokens.input)}  out ${int(s.tokens.output)}${s.tokens.cache_read ? `  cache read ${int(s.tokens.cache_read)}` : ''}${s.tokens.cache_write ? `  cache write ${int(s.tokens.cache_write)}` : ''}  est. cost ${usd(s.cost_usd)}`,
    `tool calls  ${Object.values(s.tool_calls).reduce((a, b) => a + b, 0)}${tools ? `  (${tools})` : ''}${s.mcp_calls ? `  mcp calls ${s.mcp_calls}` : ''}`,
    `processes   ${s.processes}  files written ${s.files_written}  hosts ${s.hosts.length}${s.hosts.length ? ` (${s.hosts.slice(0, 5).join(', ')}${s.hosts.length > 5 ? ', …' : ''})` : ''}`,
    `lost        ${s.lost_records ? `${s.lost_records} records, ${int(s.lost_bytes)} bytes` : 'nothing'}`,
  ];
  if (s.first_ts !== null)
    lines.push(
      `span        ${time(s.first_ts)} .. ${time(s.last_ts)} (${((s.last_ts! - s.first_ts) / 1e6).toFixed(1)} s, ${int(s.events)} events)`,
    );
  return lines;
}

export function formatAudit(r: Report): string {
  const a = r.audit();
  const out: string[] = [];
  out.push(`Processes (${a.processes.length})`);
  out.push(
    table(
      ['start', 'pid', 'ppid', 'exit', 'ms', 'command'],
      a.processes.map((p) => [
        time(p.start),
        p.pid,
        p.ppid ?? '-',
        p.signal ? `sig${p.signal}` : (p.exit_code ?? '-'),
        p.duration_ms == null ? '-' : Math.round(p.duration_ms),
        (p.argv.length ? p.argv.join(' ') : p.comm).slice(0, 160),
      ]),
    ),
  );
  out.push('', `Files written (${a.files.length})`);
  out.push(
    table(
      ['time', 'pid', 'op', 'path'],
      a.files.map((f) => [time(f.ts), f.pid, f.op, f.to ? `${f.path} -> ${f.to}` : f.path]),
    ),
  );
  out.push('', `Hosts contacted (${a.hosts.length})`);
  out.push(
    table(
      ['first seen', 'host', 'count', 'via', 'pids'],
      a.hosts.map((h) => [time(h.first_ts), h.host, h.count, h.via.join(','), h.pids.join(',')]),
    ),
  );
  out.push('', `Alerts (${a.alerts.length})`);
  out.push(
    table(
      ['time', 'severity', 'rule', 'pid', 'message'],
      a.alerts.map((x) => [time(x.ts), x.severity, x.rule, x.pid ?? '-', x.message.slice(0, 200)]),
    ),
  );
  return out.join('\n');
}

export function formatPrompts(r: Report): string {
  return r
    .prompts()
    .map((p) => {
      const head = `── ${time(p.ts)}  ${p.model ?? '?'}  ${p.comm ?? ''}[${p.pid ?? '?'}]  ${p.id}`;
      return [
        head,
        ...(p.system ? [`system: ${p.system.slice(0, 500)}${p.system.length > 500 ? '…' : ''}`] : []),
        p.prompt,
      ].join('\n');
    })
    .join('\n\n');
}
