// Builders for synthetic merged streams, shared by the unit tests and the E2E test's
// precision/recall accounting.
import type { AgentEvent, LlmCallEvent, TraceAlertEvent, TraceLinkEvent } from '@agentsight/events';

export const T0 = 1_800_000_000_000_000;

export interface CallSpec {
  pid: number;
  id: string;
  start: number;
  end: number;
  toolCalls?: Array<{ id: string | null; name: string; arguments: unknown }>;
  messages?: unknown[];
  text?: string;
  api?: LlmCallEvent['api'];
  host?: string;
  /** Tools offered in the request (default: a bash tool, as an agent's main loop does; [] for a side call). */
  tools?: unknown[];
}

export function llmCall(s: CallSpec): LlmCallEvent {
  return {
    v: 1,
    ts: s.end,
    src: 'llm',
    type: 'call',
    pid: s.pid,
    tid: s.pid,
    comm: 'agent',
    id: s.id,
    provider: 'anthropic',
    api: s.api ?? 'anthropic.messages',
    model: 'm',
    request: {
      messages: s.messages ?? [{ role: 'user', content: 'go' }],
      tools: s.tools ?? [{ name: 'bash' }],
      stream: true,
    },
    response: {
      text: s.text ?? '',
      thinking: null,
      tool_calls: s.toolCalls ?? [],
      finish_reason: s.toolCalls?.length ? 'tool_use' : 'end_turn',
    },
    usage: {},
    status: 200,
    timing: { start: s.start, duration_ms: (s.end - s.start) / 1000 },
    conn: `c${s.pid}`,
    host: s.host ?? 'api.anthropic.com',
    req: `c${s.pid}#${s.id}`,
  };
}

export const fork = (pid: number, ppid: number, ts: number, comm = 'node'): AgentEvent => ({
  v: 1,
  ts,
  src: 'proc',
  type: 'fork',
  pid,
  ppid,
  comm,
});
export const exec = (pid: number, ppid: number, argv: string[], ts: number, cwd = '/proj'): AgentEvent => ({
  v: 1,
  ts,
  src: 'proc',
  type: 'exec',
  pid,
  ppid,
  uid: 0,
  comm: (argv[0] ?? '').split('/').pop()!.slice(0, 15),
  filename: argv[0] ?? '',
  argv,
  cwd,
});
export const exit = (pid: number, ts: number, code = 0): AgentEvent => ({
  v: 1,
  ts,
  src: 'proc',
  type: 'exit',
  pid,
  comm: 'x',
  exit_code: code,
});
export const open = (pid: number, path: string, ts: number, flags = 0, ret = 3): AgentEvent => ({
  v: 1,
  ts,
  src: 'proc',
  type: 'open',
  pid,
  comm: 'x',
  path,
  flags,
  ret,
});
export const rename = (pid: number, path: string, to: string, ts: number): AgentEvent => ({
  v: 1,
  ts,
  src: 'proc',
  type: 'rename',
  pid,
  comm: 'x',
  path,
  to,
  ret: 0,
});
export const connect = (pid: number, addr: string, port: number, ts: number): AgentEvent => ({
  v: 1,
  ts,
  src: 'proc',
  type: 'connect',
  pid,
  comm: 'x',
  family: addr.includes(':') ? 'inet6' : 'inet',
  addr,
  port,
  ret: 0,
});
export const stdout = (pid: number, text: string, ts: number, seq = 0): AgentEvent => ({
  v: 1,
  ts,
  src: 'stdio',
  type: 'data',
  pid,
  comm: 'x',
  fd: 1,
  dir: 'write',
  seq,
  len: Buffer.byteLength(text),
  data: text,
  enc: 'utf8',
});

/** A child the agent ran through `/bin/sh -c CMD` (fork, exec, exit). */
export function shell(pid: number, agent: number, cmd: string, ts: number, code = 0, cwd = '/proj'): AgentEvent[] {
  return [fork(pid, agent, ts), exec(pid, agent, ['/bin/sh', '-c', cmd], ts + 10, cwd), exit(pid, ts + 1000, code)];
}

export const links = (evs: AgentEvent[], kind?: TraceLinkEvent['kind']) =>
  evs.filter(
    (e): e is TraceLinkEvent => e.src === 'trace' && e.type === 'link' && (kind === undefined || e.kind === kind),
  );
export const alerts = (evs: AgentEvent[], rule?: string) =>
  evs.filter(
    (e): e is TraceAlertEvent => e.src === 'trace' && e.type === 'alert' && (rule === undefined || e.rule === rule),
  );

/** Pids a tool_process link names. */
export const linkPids = (l: TraceLinkEvent) => (Array.isArray(l.to) ? l.to : [l.to]).map(Number);

/**
 * Precision and recall of tool_process links against the truth (tool call key -> pids).
 * Pairs (tool call, pid) are the unit: a pid linked to the wrong call is a false positive
 * there and a miss where it belonged.
 */
export function precisionRecall(
  got: TraceLinkEvent[],
  truth: Map<string, number[]>,
): { precision: number; recall: number; tp: number; fp: number; fn: number } {
  const want = new Set<string>();
  for (const [k, pids] of truth) for (const p of pids) want.add(`${k}\u0000${p}`);
  const have = new Set<string>();
  for (const l of got) for (const p of linkPids(l)) have.add(`${l.from}\u0000${p}`);
  let tp = 0;
  for (const x of have) if (want.has(x)) tp++;
  const fp = have.size - tp;
  const fn = want.size - tp;
  return { precision: have.size ? tp / have.size : 1, recall: want.size ? tp / want.size : 1, tp, fp, fn };
}
