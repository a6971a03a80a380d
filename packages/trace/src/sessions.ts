// The session model every output shares (the store and its UI, `agentsight report`, OTLP):
//
// - a run is one exec/record/monitor segment, announced by a `meta/run` event;
// - an agent session is the agent's own conversation id where its traffic carries one
//   (`sessionOf`: Claude Code's metadata.user_id, Gemini CLI's session_id, Codex's
//   prompt_cache_key), else the agent's process tree (`pid:<root pid>@<first call>`);
// - a sub-agent (Claude Code's Task/Agent tool) is a session of its own under the tool call
//   that started it. Its requests carry the parent's conversation id, so it is told apart by
//   what it is sent: while a Task call of the same process is open (from the response that
//   asked for it to the request carrying its result), a request whose first user turn holds
//   that call's `prompt` argument is the sub-agent's. (Claude Code 2.1.197 names the tool
//   `Agent`, older releases `Task`; its sub-agent requests also carry `cc_is_subagent=true` in
//   the billing header of their system prompt, but the prompt is what says *which* call.)
import type { AgentEvent, LlmCallEvent, MetaEvent, TraceLinkEvent } from '@agentsight/events';
import { type Message, messagesOf, sessionOf, type TextPart, toolResultsOf } from '@agentsight/llm';

/** Where one LLM call belongs. */
export interface CallSession {
  session: string;
  run?: string;
  /** The agent's name (claude, gemini, codex, or the process name). */
  agent?: string;
  /** The session's root process. */
  pid?: number;
  /** The user's own words in this call's newest user turn (injected context removed). */
  prompt?: string;
  /** A sub-agent's: the parent session and the tool call that started it. */
  parent?: { session: string; toolCall: string };
  /** The session was first seen with this call. */
  first: boolean;
  /** Tools whose failed results (is_error) this request is the first to carry: errors of this session. */
  toolErrors?: string[];
}

/** A process whose session was decided after it started (see SessionTracker.takeMoves). */
export interface ProcMove {
  pid: number;
  session: string;
}

/** A `meta/run` event: the start of one exec/record/monitor segment. */
export interface RunInfo {
  id: string;
  host?: string;
  command?: string;
  capture?: string;
  start: number;
}

/** Tool names whose calls start a sub-agent. */
export const SUBAGENT_TOOLS = new Set(['Task', 'Agent']);

interface OpenTask {
  pid: number | undefined;
  toolCall: string;
  prompt: string;
  session: string;
  start: number;
}

interface ProcNode {
  ppid?: number;
  comm?: string;
  argv?: string[];
}

const KNOWN_AGENTS: Array<[RegExp, string]> = [
  [/(^|\/)claude(\.exe)?$|@anthropic-ai\/claude-code/, 'claude'],
  [/(^|\/)gemini$|@google\/gemini-cli/, 'gemini'],
  [/(^|\/)codex$|@openai\/codex/, 'codex'],
];

/** The agent's name from its process: a known agent's name wherever its argv says so, else the process name. */
export function agentName(comm: string | undefined, argv: string[] | undefined): string | undefined {
  for (const a of [...(argv ?? []).slice(0, 3), comm ?? '']) {
    for (const [re, name] of KNOWN_AGENTS) if (re.test(a)) return name;
  }
  return comm;
}

/** The text a user typed in a message: its text parts that are not injected context. */
export function ownWords(m: Message | undefined): string {
  if (!m) return '';
  return m.parts
    .filter((p): p is TextPart => p.type === 'text' && !(p as TextPart).injected)
    .map((p) => p.content)
    .join('\n')
    .trim();
}

/** All text of a message's text parts, injected or not. */
function allText(m: Message | undefined): string {
  return (m?.parts ?? [])
    .filter((p): p is TextPart => p.type === 'text')
    .map((p) => p.content)
    .join('\n');
}

/** How long a Task call stays open without its result (a lost event must not keep it forever). */
const TASK_OPEN_US = 6 * 3600e6;
const MAX_PROCS = 65536;

/** Follows a stream of events and says which session, run and parent each LLM call belongs to. */
export class SessionTracker {
  #run: RunInfo | undefined;
  readonly #procs = new Map<number, ProcNode>();
  /** Child pids by parent pid (the tree below an agent, walked once, at its first request). */
  readonly #children = new Map<number, Set<number>>();
  /** Process-tree sessions by their root pid. */
  readonly #trees = new Map<number, string>();
  /** The session each agent pid made its latest call in: its children's tools run for it. */
  readonly #current = new Map<number, string>();
  readonly #known = new Set<string>();
  #tasks: OpenTask[] = [];
  /** Processes a correlation link tied to a tool call: the session that called the tool, whatever runs meanwhile. */
  readonly #pinned = new Map<number, string>();
  /** The session that asked for each tool call (by the correlator's key), and the tool's name. */
  readonly #toolCalls = new Map<string, { session: string; name: string; answered?: boolean }>();
  #moves: ProcMove[] = [];

  get run(): RunInfo | undefined {
    return this.#run;
  }

  /**
   * Continue from state kept elsewhere (the store, across a restart): the processes still
   * alive, the process-tree sessions by root pid, the session each agent pid last called in,
   * the run under way. Calls after a restart then land in the sessions they did before it.
   */
  restore(state: {
    procs?: Array<{ pid: number; ppid?: number; comm?: string; argv?: string[] }>;
    trees?: Array<[pid: number, session: string]>;
    current?: Array<[pid: number, session: string]>;
    run?: RunInfo;
  }): void {
    for (const p of state.procs ?? [])
      this.observe({ v: 1, ts: 0, src: 'proc', type: 'snapshot', ...p } as unknown as AgentEvent);
    for (const [pid, session] of state.trees ?? []) {
      this.#trees.set(pid, session);
      this.#known.add(session);
    }
    for (const [pid, session] of state.current ?? []) {
      this.#current.set(pid, session);
      this.#known.add(session);
    }
    if (state.run) this.#run = state.run;
  }

  /** Follow one event; for an llm/call, where it belongs. */
  observe(ev: AgentEvent): CallSession | undefined {
    switch (`${ev.src}/${ev.type}`) {
      case 'meta/run': {
        const m = ev as MetaEvent;
        if (typeof m.run === 'string')
          this.#run = {
            id: m.run,
            start: ev.ts,
            ...(typeof m.host === 'string' ? { host: m.host } : {}),
            ...(typeof m.command === 'string' ? { command: m.command } : {}),
            ...(typeof m.capture === 'string' ? { capture: m.capture } : {}),
          };
        return undefined;
      }
      case 'meta/stop': {
        // The run is over: what comes after (another capture appended) is not in it.
        if (this.#run && (ev as MetaEvent).run === this.#run.id) this.#run = undefined;
        return undefined;
      }
      case 'proc/fork':
      case 'proc/exec':
      case 'proc/snapshot': {
        const e = ev as unknown as { pid: number; ppid?: number; comm?: string; argv?: string[] };
        const old = this.#procs.get(e.pid);
        if (ev.type === 'fork') {
          // A new process on a reused pid: what the old one was is gone.
          this.#trees.delete(e.pid);
          this.#current.delete(e.pid);
          this.#pinned.delete(e.pid);
        }
        const node: ProcNode = {
          ppid: e.ppid ?? old?.ppid,
          comm: e.comm ?? old?.comm,
          argv: e.argv ?? (ev.type === 'fork' && e.ppid !== undefined ? this.#procs.get(e.ppid)?.argv : old?.argv),
        };
        if (old?.ppid !== node.ppid) {
          if (old?.ppid !== undefined) this.#children.get(old.ppid)?.delete(e.pid);
          if (node.ppid !== undefined) {
            const kids = this.#children.get(node.ppid) ?? new Set<number>();
            kids.add(e.pid);
            this.#children.set(node.ppid, kids);
          }
        }
        this.#procs.delete(e.pid);
        this.#procs.set(e.pid, node);
        if (this.#procs.size > MAX_PROCS) {
          const gone = this.#procs.keys().next().value as number;
          const up = this.#procs.get(gone)?.ppid;
          this.#procs.delete(gone);
          if (up !== undefined) this.#children.get(up)?.delete(gone);
          this.#children.delete(gone);
        }
        return undefined;
      }
      case 'llm/call':
        return this.#call(ev as LlmCallEvent);
      case 'trace/link': {
        // The correlator says which tool call started these processes: they work for the
        // session that made that call, not for whichever of the agent's sessions (a
        // sub-agent in the same process, say) made the latest request.
        const l = ev as TraceLinkEvent;
        const tc = l.kind === 'tool_process' ? this.#toolCalls.get(l.from) : undefined;
        if (!tc) return undefined;
        for (const x of Array.isArray(l.to) ? l.to : [l.to]) {
          const pid = typeof x === 'number' ? x : Number(String(x).replace(/^\D+/, ''));
          if (!Number.isInteger(pid)) continue;
          if (this.sessionOfPid(pid) !== tc.session) this.#moves.push({ pid, session: tc.session });
          this.#pinned.set(pid, tc.session);
          if (this.#pinned.size > MAX_PROCS) this.#pinned.delete(this.#pinned.keys().next().value as number);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /**
   * The session a process (a tool's) works for: the tool call's that a link tied it (or an
   * ancestor) to, else its own or its nearest ancestor's current session.
   */
  sessionOfPid(pid: number | undefined): string | undefined {
    for (let p = pid, d = 0; p !== undefined && d < 64; p = this.#procs.get(p)?.ppid, d++) {
      const s = this.#pinned.get(p) ?? this.#current.get(p);
      if (s) return s;
    }
    return undefined;
  }

  /**
   * Processes whose session the last event decided after they started: an agent's helpers
   * that ran before its first request (an agent's tree belongs to its session from the
   * start), and tool processes a link moved to the session whose tool call started them.
   * Read once, after observe().
   */
  takeMoves(): ProcMove[] {
    const m = this.#moves;
    if (m.length) this.#moves = [];
    return m;
  }

  /** The session that asked for a tool call (by its id, or `${callId}#${index}` without one). */
  sessionOfToolCall(key: string): string | undefined {
    return this.#toolCalls.get(key)?.session;
  }

  /** Has this pid made LLM calls (is it an agent)? */
  isAgent(pid: number): boolean {
    return this.#current.has(pid);
  }

  /** The name of the agent a pid is: a known agent in its argv, else its process name. */
  agentOf(pid: number | undefined, comm?: string): string | undefined {
    const p = pid === undefined ? undefined : this.#procs.get(pid);
    return agentName(p?.comm ?? comm, p?.argv);
  }

  #call(c: LlmCallEvent): CallSession {
    const start = c.timing?.start ?? c.ts;
    const messages = messagesOf(c.api, c.request.messages ?? []);
    const users = messages.filter((m) => m.role === 'user');
    const firstUser = allText(users[0]);
    const newestUser = [...messages].reverse().find((m) => m.role === 'user' && ownWords(m));
    const prompt = ownWords(newestUser) || undefined;
    this.#tasks = this.#tasks.filter((t) => start - t.start < TASK_OPEN_US);

    // A request that carries an open Task's result ends it: the sub-agent is done.
    if (this.#tasks.length) {
      const results = toolResultsOf(c.api, (c.request.messages ?? []).slice(-16));
      if (results.length) {
        const ids = new Set(results.map((r) => r.id));
        this.#tasks = this.#tasks.filter((t) => !(t.pid === c.pid && ids.has(t.toolCall) && t.start <= start));
      }
    }
    const task = firstUser
      ? [...this.#tasks].reverse().find((t) => t.pid === c.pid && t.start <= start && firstUser.includes(t.prompt))
      : undefined;

    let session: string;
    let parent: CallSession['parent'];
    let root = c.pid;
    if (task) {
      session = `${task.session}/${task.toolCall}`;
      parent = { session: task.session, toolCall: task.toolCall };
    } else {
      const conv = sessionOf(c);
      if (conv) session = conv;
      else {
        // The nearest ancestor that is already a session's root, else this process.
        let found: string | undefined;
        for (let p = c.pid, d = 0; p !== undefined && d < 64; p = this.#procs.get(p)?.ppid, d++) {
          const s = this.#trees.get(p);
          if (s) {
            found = s;
            root = p;
            break;
          }
        }
        if (!found) {
          found = `pid:${c.pid ?? c.conn}@${start}`;
          if (c.pid !== undefined) this.#trees.set(c.pid, found);
        }
        session = found;
      }
    }
    if (c.pid !== undefined) {
      if (!this.#current.has(c.pid)) {
        // Its first request: what it started before (startup probes, helpers) is its too.
        const unowned: number[] = [];
        const todo = [c.pid];
        const seen = new Set<number>();
        for (let pid = todo.pop(); pid !== undefined && unowned.length < 10_000; pid = todo.pop()) {
          // A nested agent's subtree is that agent's.
          if (this.sessionOfPid(pid) !== undefined || seen.has(pid)) continue;
          seen.add(pid);
          unowned.push(pid);
          for (const k of this.#children.get(pid) ?? []) todo.push(k);
        }
        this.#current.set(c.pid, session);
        for (const pid of unowned) this.#moves.push({ pid, session: this.sessionOfPid(pid)! });
      } else this.#current.set(c.pid, session);
    }
    // Failed tool results, each counted once, in the session that received them.
    let toolErrors: string[] | undefined;
    if (this.#toolCalls.size) {
      for (const r of toolResultsOf(c.api, (c.request.messages ?? []).slice(-16))) {
        const tc = r.id ? this.#toolCalls.get(r.id) : undefined;
        if (!tc || tc.answered) continue;
        tc.answered = true;
        if (r.isError) (toolErrors ??= []).push(tc.name);
      }
    }
    (c.response?.tool_calls ?? []).forEach((tc, i) => {
      this.#toolCalls.set(tc.id ?? `${c.id}#${i}`, { session, name: tc.name });
      if (this.#toolCalls.size > 100_000) this.#toolCalls.delete(this.#toolCalls.keys().next().value as string);
    });
    for (const tc of c.response?.tool_calls ?? []) {
      const p = (tc.arguments as { prompt?: unknown } | null)?.prompt;
      if (SUBAGENT_TOOLS.has(tc.name) && tc.id && typeof p === 'string' && p.trim())
        this.#tasks.push({
          pid: c.pid,
          toolCall: tc.id,
          prompt: p.trim(),
          session,
          start: start + Math.round((c.timing?.duration_ms ?? 0) * 1000),
        });
    }
    const first = !this.#known.has(session);
    if (first) {
      this.#known.add(session);
      if (this.#known.size > 1_000_000) this.#known.clear();
    }
    return {
      session,
      first,
      ...(this.#run ? { run: this.#run.id } : {}),
      ...(root !== undefined ? { pid: root } : {}),
      ...(prompt ? { prompt } : {}),
      ...(parent ? { parent } : {}),
      ...(toolErrors ? { toolErrors } : {}),
      agent: this.agentOf(c.pid, c.comm),
    };
  }
}
