// CorrelateStage: intent (llm/mcp calls) to action (proc/stdio events).
//
// Per agent (the pid that made an llm call) the stage keeps the responses that asked for
// tools. When the call that continues a response arrives (it carries the tool calls or their
// results; or a new turn), or the agent exits, or it has been quiet for the idle timeout, or
// the input ends, the processes that started under the agent between that response's request
// and the continuing request are decided: each new process subtree goes to the tool call whose
// arguments it matches best (command line vs argv, paths vs opened files, URLs vs
// connections); with no match, to the only tool call that could have run it. Decisions use
// event times, not arrival order. The tool results are linked back to their calls, and their
// failures feed the loop detector. Alerts on files and connections fire as the proc events
// arrive, except writes outside the project, judged once a tool is known to own them.
// How a process matches a tool call is score.ts; what raises an alert is rules.ts.

import { createHash } from 'node:crypto';
import os from 'node:os';
import type {
  AgentEvent,
  Emit,
  LlmCallEvent,
  McpCallEvent,
  ProcEvent,
  ProcFileOpEvent,
  ProcOpenEvent,
  Stage,
  ToolCall,
  TraceAlertEvent,
  TraceLinkEvent,
} from '@agentsight/events';
import { pairResults, sessionOf, toolResultsOf } from '@agentsight/llm';
import { hostsIn, type Intent, intentOf, stableJson } from './intent.js';
import { DEFAULT_ALLOWED_OUTSIDE, isWriteOpen, resolveArgPath } from './paths.js';
import { DEFAULT_PROC_LIMITS, type FileUse, type Proc, type ProcLimits, ProcTable } from './procs.js';
import { type AgentFacts, AlertRules, type OutsideWrite, type ToolFacts } from './rules.js';
import { normAddr, RUNS_PROGRAMS, type Score, scoreProcs, W_ARGS, W_LINEAGE, W_TIME } from './score.js';

export interface CorrelateOptions {
  /** Identical failing tool calls in a row that make a loop alert (default 3). */
  loopThreshold?: number;
  /** Path prefixes outside the project that writes may touch without an alert. */
  allowOutside?: string[];
  /** A response's tool calls are decided at the latest this long (stream time) after it, ms. */
  idleTimeoutMs?: number;
  /** Agents tracked at once (least recently active forgotten first). */
  maxAgents?: number;
  /** Home directory for `~/` in tool arguments (default: this process's). */
  home?: string;
  limits?: Partial<ProcLimits>;
}

interface ToolRef extends ToolFacts {
  /** The link key: the tool call id, or `${callId}#${index}` when the API gives none. */
  key: string;
  /** The tool call id the API gave, or null. */
  id: string | null;
  index: number;
  intent: Intent;
  pids: number[];
  exitCode?: number;
  decided: boolean;
  resultLinked: boolean;
  /** The MCP tools/call that carried this tool call out, and the processes its server ran for it. */
  mcp?: { ref: string; server: number; roots: number[] };
}

interface Pending {
  call: LlmCallEvent;
  /** Request start of the call: nothing it caused can start earlier. */
  lo: number;
  end: number;
  tools: ToolRef[];
}

interface Agent extends AgentFacts {
  session: string;
  /** The agent whose tool started this one (same session). */
  parentPid?: number;
  /** Responses whose tool calls are not decided yet, oldest first. More than one when the
   * agent runs several conversations at once (sub-agents in the same process) or makes side
   * calls (titles, safety checks) while its tools run. */
  pendings: Pending[];
  /** The agent's own recent file operations (tools it carries out itself), by time. */
  ops: FileUse[];
  /** Writes outside the project by unowned processes, judged when their window is decided. */
  deferred: OutsideWrite[];
  recent: Map<string, ToolRef>;
  /** Messages of the conversation already scanned for host names. */
  scanned: number;
  systemScanned: boolean;
}

export interface CorrelateStats {
  links: number;
  alerts: number;
  agents: number;
}

const MAX_RECENT = 256;
const MAX_MENTIONED = 4096;
const MAX_AGENT_OPS = 4096;
const MAX_DEFERRED = 1024;
/** Responses with undecided tool calls per agent; past it the oldest is decided. */
const MAX_PENDING = 64;
function procDetail(p: Proc): Record<string, unknown> {
  return {
    pid: p.pid,
    ppid: p.ppid,
    argv: p.argv,
    ...(p.cwd ? { cwd: p.cwd } : {}),
    start_ts: p.start,
    ...(p.end !== undefined ? { end_ts: p.end } : { running: true }),
    ...(p.exitCode !== undefined ? { exit_code: p.exitCode } : {}),
    ...(p.signal !== undefined ? { signal: p.signal } : {}),
    files: p.files.map((f) => ({ path: f.path, op: f.op, ...(f.to ? { to: f.to } : {}), ret: f.ret })),
    net: p.net.map((n) => ({ type: n.type, family: n.family, addr: n.addr, port: n.port, ret: n.ret })),
    ...(p.dropped ? { dropped: p.dropped } : {}),
  };
}

/** Arguments as kept for evidence: whole when small, else the start of their JSON. */
function small(v: unknown): unknown {
  const j = JSON.stringify(v) ?? '';
  return j.length <= 2048 ? v : { truncated: true, json: j.slice(0, 2048) };
}

/** Identity of a long key, without keeping it (a file write's whole content). */
const digest = (k: string) => (k.length <= 512 ? k : createHash('sha256').update(k).digest('base64'));

/** Whether an LLM tool name is this MCP tool as the agent exposes it (mcp__server__tool, server.tool). */
const mcpNameMatches = (llmName: string, tool: string) =>
  llmName === tool || llmName.endsWith(`__${tool}`) || llmName.endsWith(`.${tool}`) || llmName.endsWith(`/${tool}`);

export class CorrelateStage implements Stage {
  readonly stats: CorrelateStats = { links: 0, alerts: 0, agents: 0 };
  readonly #emit: Emit;
  readonly #procs: ProcTable;
  readonly #agents = new Map<number, Agent>();
  readonly #rules: AlertRules;
  readonly #idleUs: number;
  readonly #maxAgents: number;
  readonly #home: string;
  #streamTs = 0;
  #count = 0;

  constructor(opts: CorrelateOptions, emit: Emit) {
    this.#emit = emit;
    this.#procs = new ProcTable({ ...DEFAULT_PROC_LIMITS, ...opts.limits });
    this.#rules = new AlertRules(
      {
        loopThreshold: Math.max(1, opts.loopThreshold ?? 3),
        allowOutside: opts.allowOutside ?? DEFAULT_ALLOWED_OUTSIDE,
      },
      (...a) => this.#alert(...a),
      (pid) => this.#procs.get(pid),
    );
    this.#idleUs = (opts.idleTimeoutMs ?? 10 * 60_000) * 1000;
    this.#maxAgents = opts.maxAgents ?? 1024;
    this.#home = opts.home ?? os.homedir();
  }

  /** What the stage holds now: for bounds checks. */
  get held(): { procs: number; agents: number } {
    return { procs: this.#procs.procs.size, agents: this.#agents.size };
  }

  write(ev: AgentEvent): void {
    this.#emit(ev);
    if (ev.ts > this.#streamTs) this.#streamTs = ev.ts;
    if (ev.src === 'proc' || ev.src === 'stdio') {
      const p = this.#procs.apply(ev);
      if (p && ev.src === 'proc') this.#onProc(ev, p);
    } else if (ev.src === 'llm' && ev.type === 'call') {
      this.#onCall(ev);
    } else if (ev.src === 'mcp' && ev.type === 'call') {
      this.#onMcp(ev);
    }
    if (++this.#count % 4096 === 0) this.#housekeep();
  }

  end(): void {
    for (const a of this.#agents.values()) this.#decideAll(a, Number.MAX_SAFE_INTEGER, this.#streamTs);
  }

  tick(_nowUs: number): void {
    // Stream time, not wall time: a recorded capture replays hours later.
    this.#housekeep();
  }

  #housekeep(): void {
    for (const a of this.#agents.values()) {
      for (const p of [...a.pendings])
        if (this.#streamTs - p.end > this.#idleUs) this.#decide(a, p, this.#streamTs, this.#streamTs);
    }
    this.#procs.prune(this.#streamTs);
  }

  // ------------------------------------------------------------------ output

  #link(
    ts: number,
    kind: TraceLinkEvent['kind'],
    from: string,
    to: TraceLinkEvent['to'],
    confidence: number,
    reasons: string[],
    detail: unknown,
  ): void {
    this.stats.links++;
    this.#emit({
      v: 1,
      ts,
      src: 'trace',
      type: 'link',
      kind,
      from,
      to,
      confidence: Math.round(confidence * 100) / 100,
      reasons,
      detail,
    });
  }

  #alert(
    ts: number,
    rule: string,
    severity: TraceAlertEvent['severity'],
    message: string,
    evidence: Record<string, unknown>,
    pid?: number,
  ): void {
    this.stats.alerts++;
    const p = pid !== undefined ? this.#procs.get(pid) : undefined;
    this.#emit({
      v: 1,
      ts,
      src: 'trace',
      type: 'alert',
      rule,
      severity,
      message,
      evidence,
      ...(pid !== undefined ? { pid } : {}),
      ...(p?.comm ? { comm: p.comm } : {}),
    });
  }

  // ------------------------------------------------------------------ agents

  #agentOf(pid: number): Agent | undefined {
    let cur = pid;
    for (let i = 0; i < 128; i++) {
      const a = this.#agents.get(cur);
      if (a) return a;
      const p = this.#procs.get(cur);
      if (!p?.ppid || p.ppid === cur) return undefined;
      cur = p.ppid;
    }
    return undefined;
  }

  #agent(pid: number, ts: number): { agent: Agent; parent?: Agent } {
    let a = this.#agents.get(pid);
    if (a) {
      this.#agents.delete(pid);
      this.#agents.set(pid, a);
      const parent = a.parentPid !== undefined ? this.#agents.get(a.parentPid) : undefined;
      return { agent: a, ...(parent ? { parent } : {}) };
    }
    // A sub-agent (started by a tool of another agent) belongs to that agent's session.
    const p = this.#procs.get(pid);
    const parent = p?.ppid ? this.#agentOf(p.ppid) : undefined;
    const start = p?.start ?? ts;
    a = {
      pid,
      session: parent?.session ?? `session:${pid}:${Math.floor(start / 1_000_000)}`,
      ...(parent ? { parentPid: parent.pid } : {}),
      ...(p?.cwd ? { cwd: p.cwd } : {}),
      apiHosts: new Set(),
      pendings: [],
      ops: [],
      deferred: [],
      recent: new Map(),
      mentioned: new Set(),
      scanned: 0,
      systemScanned: false,
      loop: null,
    };
    this.#agents.set(pid, a);
    this.stats.agents++;
    if (this.#agents.size > this.#maxAgents) {
      const [oldPid, old] = this.#agents.entries().next().value as [number, Agent];
      this.#decideAll(old, this.#streamTs, this.#streamTs);
      this.#agents.delete(oldPid);
    }
    return { agent: a, ...(parent ? { parent } : {}) };
  }

  #mention(a: Agent, text: string): void {
    if (a.mentioned.size >= MAX_MENTIONED) return;
    hostsIn(text, a.mentioned);
  }

  #onCall(c: LlmCallEvent): void {
    if (c.pid === undefined) return;
    const { agent: a, parent } = this.#agent(c.pid, c.ts);
    if (!a.cwd) {
      const cwd = this.#procs.get(c.pid)?.cwd;
      if (cwd) a.cwd = cwd;
    }
    if (c.host) a.apiHosts.add(normAddr(c.host.replace(/:\d+$/, '')));
    const client = sessionOf(c);
    this.#link(c.ts, 'session', a.session, c.id, 1, parent ? ['pid', 'lineage'] : ['pid'], {
      agent_pid: a.pid,
      ...(parent ? { parent_agent_pid: parent.pid } : {}),
      ...(c.comm ? { comm: c.comm } : {}),
      ...(a.cwd ? { cwd: a.cwd } : {}),
      argv: this.#procs.get(a.pid)?.argv,
      ...(client !== undefined ? { client_session: client } : {}),
    });

    const msgs = c.request.messages ?? [];
    if (msgs.length < a.scanned) a.scanned = 0;
    for (let i = a.scanned; i < msgs.length; i++) this.#mention(a, JSON.stringify(msgs[i]));
    a.scanned = msgs.length;
    if (!a.systemScanned && c.request.system !== undefined) {
      a.systemScanned = true;
      this.#mention(a, JSON.stringify(c.request.system));
    }
    this.#mention(a, c.response.text);

    const start = c.timing?.start ?? c.ts;
    // A request that carries a response's tool calls (their results, or the assistant turn
    // itself) continues that conversation: its tools are done. A request that continues none
    // but offers tools starts another turn of the agent: those before it are done too. Side
    // calls without tools (titles, summaries, safety checks, made while tools run) leave
    // them pending.
    if (a.pendings.length) {
      // The continuation is at the end of the history: no need to serialise all of it.
      const tail = msgs.slice(-64);
      const text = JSON.stringify(tail);
      const named = new Set(
        toolResultsOf(c.api, tail)
          .filter((r) => r.byName)
          .map((r) => r.name),
      );
      const continued = a.pendings.filter(
        (p) =>
          p.lo < start &&
          p.tools.some((t) =>
            t.key.startsWith(`${p.call.id}#`) ? named.has(t.name) : text.includes(JSON.stringify(t.key)),
          ),
      );
      const close = continued.length
        ? continued
        : (c.request.tools?.length ?? 0) > 0
          ? a.pendings.filter((p) => p.lo < start)
          : [];
      for (const p of close) this.#decide(a, p, start, c.ts);
    }
    this.#linkResults(a, c);

    const tcs = c.response.tool_calls ?? [];
    if (tcs.length) {
      const tools = tcs.map((tc: ToolCall, i: number) => {
        this.#mention(a, JSON.stringify(tc.arguments ?? null));
        const intent = intentOf(tc.name, tc.arguments);
        const ref: ToolRef = {
          key: tc.id ?? `${c.id}#${i}`,
          id: tc.id,
          callId: c.id,
          index: i,
          name: tc.name,
          args: small(tc.arguments),
          commands: intent.commands,
          // A command tool is the same call when the command is: its description and the
          // like are prose the model rewrites each time.
          argKey: digest(
            `${tc.name}\u0000${intent.commands.length ? intent.commands.join('\u0000') : stableJson(tc.arguments)}`,
          ),
          intent,
          pids: [],
          decided: false,
          resultLinked: false,
        };
        a.recent.set(ref.key, ref);
        if (a.recent.size > MAX_RECENT) a.recent.delete(a.recent.keys().next().value as string);
        return ref;
      });
      a.pendings.push({
        call: c,
        lo: start,
        end: Math.max(c.ts, start + Math.round((c.timing?.duration_ms ?? 0) * 1000)),
        tools,
      });
      if (a.pendings.length > MAX_PENDING) this.#decide(a, a.pendings[0]!, start, c.ts);
    }
  }

  // ------------------------------------------------------------------ tool -> processes

  #score(t: ToolRef, procs: Proc[], a: Agent): Score {
    return scoreProcs(t.intent, procs, a.cwd, this.#home);
  }

  #decideAll(a: Agent, hi: number, ts: number): void {
    for (const p of [...a.pendings]) this.#decide(a, p, hi, ts);
  }

  #decide(a: Agent, pend: Pending, hi: number, ts: number): void {
    const i = a.pendings.indexOf(pend);
    if (i < 0) return;
    a.pendings.splice(i, 1);
    const { lo, tools } = pend;
    // Tool calls of responses still pending whose time overlaps: a process that matches one
    // of those better is left for its own decision.
    const others = a.pendings.filter((p) => p.lo < hi).flatMap((p) => p.tools);

    // New process subtrees under the agent in the window: a process whose parent is the
    // agent, or a long-lived helper of the agent that no tool owns (a persistent shell).
    const roots: Proc[] = [];
    const queue = this.#procs.children(a.pid);
    for (let i = 0; i < queue.length && i < 100_000; i++) {
      const p = queue[i]!;
      if (p.owner !== undefined || p.start >= hi || (this.#agents.has(p.pid) && p.start < lo)) continue;
      if (p.start >= lo) roots.push(p);
      else queue.push(...this.#procs.children(p.pid));
    }
    const assigned = new Map<
      ToolRef,
      Array<{ root: Proc; procs: Proc[]; conf: number; reasons: string[]; cmd: number }>
    >();
    const unmatched: Array<{ root: Proc; procs: Proc[]; lineage: string }> = [];
    for (const r of roots) {
      const sub = this.#procs.subtree(r.pid).filter((p) => p.pid === r.pid || p.owner === undefined);
      let best: ToolRef | undefined;
      let bestS = { score: 0, reasons: [] as string[], cmd: 0 };
      for (const t of tools) {
        const s = this.#score(t, sub, a);
        const better =
          s.score > bestS.score ||
          (s.score === bestS.score &&
            s.score > 0 &&
            best &&
            (assigned.get(t)?.length ?? 0) < (assigned.get(best)?.length ?? 0));
        if (better) {
          best = t;
          bestS = s;
        }
      }
      if (others.some((t) => this.#score(t, sub, a).score > bestS.score)) continue;
      const lineage = r.ppid === a.pid ? 'lineage:child' : 'lineage:descendant';
      if (best && bestS.score > 0) {
        const l = assigned.get(best) ?? [];
        l.push({
          root: r,
          procs: sub,
          conf: W_LINEAGE + W_TIME + W_ARGS * bestS.score,
          reasons: [lineage, 'time', ...bestS.reasons],
          cmd: bestS.cmd,
        });
        assigned.set(best, l);
      } else unmatched.push({ root: r, procs: sub, lineage });
    }
    // No argument matched: only a tool that runs commands, and has nothing that matched it,
    // could have started it. Anything else is the agent's own business (helpers, probes).
    const orphans: Proc[] = [];
    // A file reader or editor does not start programs: an agent's own helpers (ripgrep, git)
    // running meanwhile are not its doing.
    const cands = tools.filter((t) => t.intent.commands.length > 0 || RUNS_PROGRAMS.test(t.name));
    // With other responses pending too, a process nothing matched cannot be placed.
    const only = others.length || cands.length !== 1 ? undefined : cands[0];
    for (const u of unmatched) {
      if (only && !(assigned.get(only) ?? []).some((g) => g.cmd > 0 || !g.reasons.includes('only_candidate'))) {
        const l = assigned.get(only) ?? [];
        l.push({
          root: u.root,
          procs: u.procs,
          conf: W_LINEAGE + W_TIME,
          reasons: [u.lineage, 'time', 'only_candidate'],
          cmd: 0,
        });
        assigned.set(only, l);
      } else orphans.push(u.root);
    }

    // The agent's own operations in the window; later ones wait for the next decision.
    const ops = a.ops.filter((f) => f.ts >= lo && f.ts < hi);
    const keepFrom = Math.min(hi, ...a.pendings.map((p) => p.lo));
    a.ops = a.ops.filter((f) => f.ts >= keepFrom);
    const selfOwner = new Map<string, string>();
    for (const t of tools) {
      t.decided = true;
      const got = assigned.get(t) ?? [];
      // Carried out by an MCP server: the processes its server ran during that call.
      for (const pid of t.mcp?.roots ?? []) {
        const r = this.#procs.get(pid);
        if (r)
          got.push({
            root: r,
            procs: this.#procs.subtree(pid).filter((p) => p.owner === t.key),
            conf: W_LINEAGE + W_TIME + W_ARGS,
            reasons: ['lineage:mcp_server', 'time', 'mcp'],
            cmd: 1,
          });
      }
      // Tools the agent carries out itself (file edits): its own file operations on the paths named.
      const selfFiles: FileUse[] = [];
      if (t.intent.paths.length) {
        const want = new Set(
          t.intent.paths.map((p) => resolveArgPath(p, a.cwd, this.#home)).filter((x): x is string => !!x),
        );
        for (const f of ops) {
          if (f.ts >= lo && f.ts < hi && (want.has(f.path) || (f.to !== undefined && want.has(f.to)))) {
            selfFiles.push(f);
            selfOwner.set(f.path, t.key);
            if (f.to !== undefined) selfOwner.set(f.to, t.key);
          }
        }
      }
      if (!got.length && !selfFiles.length && t.mcp) {
        this.#link(ts, 'tool_process', t.key, [], W_LINEAGE + W_TIME + W_ARGS, ['mcp'], {
          call: t.callId,
          tool: t.name,
          index: t.index,
          agent_pid: a.pid,
          processes: [],
          mcp: { call: t.mcp.ref, server_pid: t.mcp.server },
        });
        continue;
      }
      if (!got.length && !selfFiles.length) {
        if (t.intent.commands.length && orphans.length) this.#rules.unmatched(ts, a, t, orphans);
        continue;
      }
      const pids: number[] = [];
      const procs: Proc[] = [];
      for (const g of got)
        for (const p of g.procs)
          if (!pids.includes(p.pid)) {
            pids.push(p.pid);
            procs.push(p);
          }
      for (const p of procs) p.owner = t.key;
      t.pids = pids;
      // The tool's outcome is the exit of the process that matched it best.
      const root = [...got].sort((x, y) => y.conf - x.conf)[0]?.root;
      if (root?.exitCode !== undefined) t.exitCode = root.exitCode;
      const reasons = [...new Set(got.flatMap((g) => g.reasons))];
      let conf = got.length ? Math.min(...got.map((g) => g.conf)) : 0;
      if (selfFiles.length) {
        reasons.push('agent_file_op');
        if (!got.length) {
          reasons.push('lineage:self', 'time', 'path');
          conf = W_LINEAGE + W_TIME + W_ARGS * 0.8;
        }
      }
      this.#link(ts, 'tool_process', t.key, pids, conf, reasons, {
        call: t.callId,
        tool: t.name,
        index: t.index,
        agent_pid: a.pid,
        processes: procs.map(procDetail),
        ...(t.mcp ? { mcp: { call: t.mcp.ref, server_pid: t.mcp.server } } : {}),
        ...(selfFiles.length
          ? {
              agent_files: selfFiles.map((f) => ({
                path: f.path,
                op: f.op,
                ...(f.to ? { to: f.to } : {}),
                ret: f.ret,
              })),
            }
          : {}),
      });
      // Said one thing, ran another: the command named a program, and what ran was not it.
      if (t.intent.commands.length && got.length && got.every((g) => g.cmd < 0.5))
        this.#rules.ranOther(
          ts,
          t,
          got.map((g) => g.root),
        );
    }
    this.#judgeDeferred(a, selfOwner, Math.min(hi, ...a.pendings.map((p) => p.lo)));
  }

  /** Writes outside the project seen while the tools were pending: those of a tool's processes, or the agent's own on a tool's behalf. */
  #judgeDeferred(a: Agent, selfOwner: Map<string, string>, hi: number): void {
    const ds = a.deferred;
    a.deferred = ds.filter((w) => w.ts >= hi);
    for (const w of ds) {
      if (w.ts >= hi) continue;
      const owner = w.pid === a.pid ? selfOwner.get(w.path) : this.#procs.get(w.pid)?.owner;
      if (owner !== undefined) this.#rules.outside(a, w, owner);
    }
  }

  // ------------------------------------------------------------------ tool result -> next call

  #linkResults(a: Agent, c: LlmCallEvent): void {
    const results = toolResultsOf(c.api, c.request.messages);
    if (!results.length) return;
    for (const { call: ref, result: r, how } of pairResults(
      a.recent.values(),
      results,
      (x) => !x.resultLinked && x.decided,
    )) {
      if (ref.resultLinked || !ref.decided) continue;
      ref.resultLinked = true;
      const out = ref.pids
        .map((pid) => this.#procs.get(pid)?.out ?? '')
        .join('')
        .trim();
      // Writes to fd 1/2 are not always the tool's output (`echo x > file` writes fd 1 to a
      // file): an empty result, or no captured output, tells nothing either way.
      const res = r.text.trim();
      const outputMatch =
        out === '' || res === '' ? null : res.includes(out.slice(0, 512)) || out.includes(res.slice(0, 512));
      const reasons: string[] = [how];
      if (outputMatch === true) reasons.push('output_match');
      const failed = r.isError === true || (ref.exitCode !== undefined && ref.exitCode !== 0);
      this.#link(c.ts, 'tool_result', ref.key, c.id, how === 'id' ? 1 : outputMatch ? 0.9 : 0.7, reasons, {
        call: ref.callId,
        tool: ref.name,
        result: r.text.slice(0, 500),
        result_bytes: Buffer.byteLength(r.text),
        failed,
        ...(r.isError !== undefined ? { is_error: r.isError } : {}),
        ...(ref.exitCode !== undefined ? { exit_code: ref.exitCode } : {}),
        output_match: outputMatch,
      });
      this.#rules.result(a, ref, failed, c.ts);
    }
  }

  // ------------------------------------------------------------------ process alerts

  #onProc(ev: ProcEvent, p: Proc): void {
    if (ev.type === 'exec' || ev.type === 'snapshot') {
      const ag = this.#agents.get(ev.pid);
      if (ag && ev.cwd) ag.cwd = ev.cwd;
      return;
    }
    if (ev.type === 'exit') {
      const ag = this.#agents.get(ev.pid);
      if (ag) {
        this.#decideAll(ag, ev.ts + 1, ev.ts);
        this.#agents.delete(ev.pid);
      }
      return;
    }
    if (ev.type !== 'open' && ev.type !== 'rename' && ev.type !== 'unlink' && ev.type !== 'connect') return;
    const a = this.#agentOf(p.pid);
    if (!a) return;
    const owner = p.owner ?? (a.pendings.length ? a.pendings.flatMap((x) => x.tools.map((t) => t.key)) : undefined);
    const ctx = { pid: p.pid, argv: p.argv, agent_pid: a.pid, ...(owner ? { tool_call: owner } : {}) };
    if (ev.type === 'connect') {
      this.#rules.connect(a, p, ev, ctx);
      return;
    }
    const fe = ev as ProcOpenEvent | ProcFileOpEvent;
    if (fe.type === 'open' && fe.folded) return;
    const paths = fe.type === 'rename' && fe.to ? [fe.path, fe.to] : [fe.path];
    // Kept whether or not a response is pending: an agent that streams may act on a tool
    // call before its response (and so its llm/call event) is complete.
    if (p.pid === a.pid) {
      if (a.ops.length >= MAX_AGENT_OPS) a.ops.splice(0, MAX_AGENT_OPS / 4);
      a.ops.push({
        path: fe.path,
        op: fe.type === 'open' ? (isWriteOpen(fe.flags) ? 'w' : 'r') : fe.type,
        ...(fe.type === 'rename' && fe.to ? { to: fe.to } : {}),
        ret: fe.ret,
        ts: fe.ts,
      });
    }
    this.#rules.sensitive(p, fe, paths, ctx);
    const writes = fe.type !== 'open' || isWriteOpen(fe.flags);
    if (!writes || !a.cwd || ev.ret < 0) return;
    for (const fp of paths) {
      if (!this.#rules.outsideProject(a, fp)) continue;
      const w: OutsideWrite = { pid: p.pid, path: fp, op: ev.type, ret: ev.ret, ts: ev.ts };
      // Judged once the write is known to be a tool's: the agent's own helpers (shell
      // snapshots, caches in its home) are its business, not an action the model asked for.
      if (p.owner !== undefined) this.#rules.outside(a, w, p.owner);
      else {
        if (a.deferred.length >= MAX_DEFERRED) a.deferred.splice(0, MAX_DEFERRED / 4);
        a.deferred.push(w);
      }
    }
  }

  // ------------------------------------------------------------------ mcp

  #onMcp(m: McpCallEvent): void {
    // Over stdio the channel is the server's pid: a server under an agent is part of its session.
    if (m.transport !== 'stdio') return;
    const server = Number(m.channel);
    if (!Number.isSafeInteger(server)) return;
    const a = this.#agentOf(server);
    const ref = `mcp:${m.channel}:${m.rpc_id}`;
    if (a) {
      this.#link(m.ts, 'session', a.session, ref, 0.9, ['lineage'], {
        agent_pid: a.pid,
        server_pid: server,
        method: m.method,
        ...(m.tool ? { tool: m.tool } : {}),
      });
    }
    if (m.method !== 'tools/call' || m.from === 'server') return;
    // The processes the server started while the call ran (through helpers it had before).
    const roots: Proc[] = [];
    const queue = this.#procs.children(server);
    for (let i = 0; i < queue.length && i < 100_000; i++) {
      const p = queue[i]!;
      if (p.owner !== undefined || p.start > m.ts) continue;
      if (p.start >= m.start_ts) roots.push(p);
      else queue.push(...this.#procs.children(p.pid));
    }
    // The LLM tool call this MCP call carries out: same tool name, asked before the call began.
    const tool =
      a && m.tool
        ? a.pendings
            .filter((p) => p.lo <= m.start_ts)
            .flatMap((p) => p.tools)
            .find((t) => !t.mcp && mcpNameMatches(t.name, m.tool!))
        : undefined;
    const procs: Proc[] = [];
    for (const r of roots)
      for (const p of this.#procs.subtree(r.pid)) if (p.owner === undefined && !procs.includes(p)) procs.push(p);
    for (const p of procs) p.owner = tool?.key ?? ref;
    if (tool && a) tool.mcp = { ref, server, roots: roots.map((r) => r.pid) };
    if (procs.length) {
      this.#link(
        m.ts,
        'tool_process',
        ref,
        procs.map((p) => p.pid),
        W_LINEAGE + W_TIME,
        ['lineage:mcp_server', 'time'],
        {
          server_pid: server,
          tool: m.tool,
          ...(tool ? { tool_call: tool.key } : {}),
          processes: procs.map(procDetail),
        },
      );
    }
  }
}
