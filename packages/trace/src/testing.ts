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

export interface SubagentFacts {
  run: string;
  session: string;
  agentPid: number;
  /** The user's own words (after an injected <system-reminder>). */
  prompt: string;
  taskId: string;
  taskPrompt: string;
  subSession: string;
  parentCalls: string[];
  subCalls: string[];
  grepPid: number;
  sedPid: number;
  /** A word only the sub-agent's answer has. */
  subWord: string;
}

/**
 * A Claude Code session (its conversation id in metadata.user_id) whose model starts a Task
 * sub-agent: the sub-agent runs `grep` in the same process, answers, and the parent goes on
 * with a failing `sed`, an alert on it. One run, from meta/run to meta/stop. Shared by the
 * session model's tests in trace, serve, report and otel.
 */
export function subagentStream(t0 = T0, agentPid = 500): { events: AgentEvent[]; facts: SubagentFacts } {
  const sid = '7d0e4a61-5b2c-4f1e-8a9d-3c6b2e1f0a47';
  const run = `host1:${t0}:1`;
  const prompt = 'Find the TODO markers and fix them';
  const taskPrompt = 'Search the repository for TODO comments and list each with its file and line';
  const taskId = 'toolu_task_01';
  const grepPid = agentPid + 100;
  const sedPid = agentPid + 101;
  const ms = (n: number) => t0 + n * 100_000;
  const reminder = '<system-reminder>\nAs you answer, use the context below. Today is 2026-12-05.\n</system-reminder>';
  const user0 = {
    role: 'user',
    content: [
      { type: 'text', text: reminder },
      { type: 'text', text: prompt },
    ],
  };
  const askTask = {
    role: 'assistant',
    content: [
      {
        type: 'tool_use',
        id: taskId,
        name: 'Task',
        input: { description: 'Find TODOs', prompt: taskPrompt, subagent_type: 'general-purpose' },
      },
    ],
  };
  const subUser = { role: 'user', content: [{ type: 'text', text: taskPrompt }] };
  const askGrep = {
    role: 'assistant',
    content: [{ type: 'tool_use', id: 'toolu_grep', name: 'Bash', input: { command: 'grep -rn TODO src' } }],
  };
  const grepOut = {
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: 'toolu_grep', content: 'src/main.ts:3: // TODO parse' }],
  };
  const taskOut = {
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: taskId, content: 'One TODO: src/main.ts line 3' }],
  };
  const askSed = {
    role: 'assistant',
    content: [
      { type: 'tool_use', id: 'toolu_sed', name: 'Bash', input: { command: "sed -i 's/TODO/DONE/' src/main.ts" } },
    ],
  };
  const sedOut = {
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: 'toolu_sed', content: 'sed: permission denied', is_error: true }],
  };
  const call = (s: CallSpec, usage: { input_tokens: number; output_tokens: number }): LlmCallEvent => {
    const c = llmCall(s);
    c.model = 'claude-sonnet-4-5-20250929';
    c.comm = 'claude';
    c.usage = usage;
    c.request.params = { metadata: { user_id: `user_ab12_account_f00d_session_${sid}` } };
    return c;
  };
  const events: AgentEvent[] = [
    {
      v: 1,
      ts: ms(0),
      src: 'meta',
      type: 'run',
      run,
      host: 'host1',
      command: `claude -p "${prompt}"`,
      tool: 'agentsight exec',
    } as AgentEvent,
    exec(agentPid, 1, ['/usr/local/bin/claude', '-p', prompt], ms(1)),
    call(
      {
        pid: agentPid,
        id: 'p1',
        start: ms(10),
        end: ms(20),
        messages: [user0],
        toolCalls: [
          {
            id: taskId,
            name: 'Task',
            arguments: { description: 'Find TODOs', prompt: taskPrompt, subagent_type: 'general-purpose' },
          },
        ],
      },
      { input_tokens: 1000, output_tokens: 100 },
    ),
    call(
      {
        pid: agentPid,
        id: 's1',
        start: ms(30),
        end: ms(40),
        messages: [subUser],
        toolCalls: [{ id: 'toolu_grep', name: 'Bash', arguments: { command: 'grep -rn TODO src' } }],
      },
      { input_tokens: 500, output_tokens: 50 },
    ),
    ...shell(grepPid, agentPid, 'grep -rn TODO src', ms(45)),
    open(grepPid, '/proj/src/main.ts', ms(46)),
    call(
      {
        pid: agentPid,
        id: 's2',
        start: ms(50),
        end: ms(60),
        messages: [subUser, askGrep, grepOut],
        text: 'One TODO: src/main.ts line 3 (zanzibar)',
      },
      { input_tokens: 600, output_tokens: 60 },
    ),
    call(
      {
        pid: agentPid,
        id: 'p2',
        start: ms(70),
        end: ms(80),
        messages: [user0, askTask, taskOut],
        toolCalls: [{ id: 'toolu_sed', name: 'Bash', arguments: { command: "sed -i 's/TODO/DONE/' src/main.ts" } }],
      },
      { input_tokens: 1200, output_tokens: 120 },
    ),
    ...shell(sedPid, agentPid, "sed -i 's/TODO/DONE/' src/main.ts", ms(85), 1),
    {
      v: 1,
      ts: ms(86),
      src: 'trace',
      type: 'alert',
      pid: sedPid,
      rule: 'sensitive_file',
      severity: 'warning',
      message: 'sed wrote src/main.ts',
      evidence: {},
    } as AgentEvent,
    call(
      {
        pid: agentPid,
        id: 'p3',
        start: ms(90),
        end: ms(100),
        messages: [user0, askTask, taskOut, askSed, sedOut],
        text: 'I could not edit src/main.ts.',
      },
      { input_tokens: 1300, output_tokens: 30 },
    ),
    { v: 1, ts: ms(110), src: 'meta', type: 'stop', tool: 'agentsight exec', run } as AgentEvent,
  ];
  return {
    events,
    facts: {
      run,
      session: sid,
      agentPid,
      prompt,
      taskId,
      taskPrompt,
      subSession: `${sid}/${taskId}`,
      parentCalls: ['p1', 'p2', 'p3'],
      subCalls: ['s1', 's2'],
      grepPid,
      sedPid,
      subWord: 'zanzibar',
    },
  };
}

export interface HelperFacts extends SubagentFacts {
  /** Processes the agent started before its first request (Claude's startup probes), failing. */
  probePids: number[];
  /** A parent's Bash tool call asked alongside the Task, whose process runs while the sub-agent is busy. */
  lsId: string;
  lsPid: number;
}

/**
 * subagentStream as a real Claude Code run has it: startup probes (`git`, `ps aux | grep`)
 * that exit non-zero before the first request, and a parent tool (`ls`, asked in the same
 * response as the Task) whose process runs between the sub-agent's requests, tied to its
 * call by the correlator's trace/link (as is the sub-agent's grep).
 */
export function subagentStreamWithHelpers(t0 = T0, agentPid = 500): { events: AgentEvent[]; facts: HelperFacts } {
  const { events, facts } = subagentStream(t0, agentPid);
  const ms = (n: number) => t0 + n * 100_000;
  const probePids = [agentPid + 1, agentPid + 2];
  const lsId = 'toolu_ls';
  const lsPid = agentPid + 102;
  const link = (ts: number, from: string, pid: number): AgentEvent =>
    ({
      v: 1,
      ts,
      src: 'trace',
      type: 'link',
      kind: 'tool_process',
      from,
      to: [pid],
      confidence: 0.9,
      reasons: ['lineage', 'time', 'args'],
    }) as AgentEvent;
  const out: AgentEvent[] = [];
  for (const ev of events) {
    if (ev.src === 'llm' && (ev as LlmCallEvent).id === 'p1')
      (ev as LlmCallEvent).response!.tool_calls!.push({ id: lsId, name: 'Bash', arguments: { command: 'ls src' } });
    out.push(ev);
    if (ev.src === 'proc' && ev.type === 'exec' && ev.pid === agentPid)
      out.push(
        ...shell(probePids[0]!, agentPid, 'git rev-parse --show-toplevel', ms(2), 128),
        ...shell(probePids[1]!, agentPid, 'ps aux | grep -v grep | grep claude', ms(3), 1),
      );
    if (ev.src === 'llm' && (ev as LlmCallEvent).id === 's1')
      out.push(...shell(lsPid, agentPid, 'ls src', ms(41)), link(ms(43), lsId, lsPid));
    if (ev.src === 'proc' && ev.type === 'exit' && ev.pid === facts.grepPid)
      out.push(link(ev.ts + 1, 'toolu_grep', facts.grepPid));
  }
  return { events: out, facts: { ...facts, probePids, lsId, lsPid } };
}
