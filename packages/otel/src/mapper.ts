// Events -> spans, following the OpenTelemetry GenAI and MCP semantic conventions.
//
// Trace shape: one trace per agent process. Its root is an INTERNAL `invoke_agent {name}`
// span covering the process's life (from proc exec/snapshot to exit when as-proc events are
// in the input; else from its first to its last captured call). Under it: a CLIENT
// `{operation} {model}` span per model call, an INTERNAL `execute_tool {name}` span per tool
// call the model asked for (from the end of that response to the start of the request that
// carries the tool's result), and a CLIENT `{mcp.method.name} {target}` span per MCP
// request, nested under the execute_tool span of the same tool when one is open.
import path from 'node:path';
import type {
  AgentEvent,
  LlmCallEvent,
  McpCallEvent,
  McpNotificationEvent,
  ProcExecEvent,
  ProcExitEvent,
  ProcForkEvent,
  ProcSnapshotEvent,
  TraceLinkEvent,
} from '@agentsight/events';
import {
  callCost,
  DEFAULT_PRICES,
  errorOf,
  operationOf,
  otelProviderName,
  type PriceTable,
  pairResults,
  paramsOf,
  toolResultsOf,
  usageOf,
} from '@agentsight/llm';
import { type CallSession, SessionTracker } from '@agentsight/trace';
import { Attrs } from './attrs.js';
import { inputMessages, outputMessages, systemInstructions } from './content.js';
import { spanIdOf, traceIdOf, usToNanos } from './ids.js';
import { type OtlpSpan, SpanKind, StatusCode } from './otlp.js';

export interface MapperOptions {
  /** Record prompts, answers, tool arguments and results (opt-in in the conventions). */
  captureContent?: boolean;
  /** Close an agent that has no proc events after this long without activity (wall ms). */
  agentIdleMs?: number;
  /** Processes remembered from proc events (oldest forgotten first). */
  maxProcs?: number;
  /** Open tool calls remembered per agent (oldest closed first). */
  maxPendingTools?: number;
  /** Prices for `agentsight.llm.cost_usd` (--prices; default @agentsight/llm's). */
  prices?: PriceTable;
}

interface ProcInfo {
  pid: number;
  ppid?: number;
  comm: string;
  filename?: string;
  argv: string[];
  cwd?: string;
  uid?: number;
  start: number;
}

interface PendingTool {
  spanId: string;
  chatSpanId: string;
  id: string | null;
  name: string;
  args: unknown;
  start: number;
}

interface Agent {
  key: string;
  pid?: number;
  traceId: string;
  rootId: string;
  /** For an agent started by another one: the span it runs under, in that agent's trace. */
  parentSpanId?: string;
  start: number;
  lastTs: number;
  lastWall: number;
  proc?: ProcInfo;
  comm?: string;
  provider?: string;
  model?: string;
  calls: number;
  usage: { input: number; output: number; any: boolean };
  pending: PendingTool[];
  exit?: { code?: number; signal?: number };
  closedAt?: number;
}

type Obj = Record<string, any>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** "host", "host:port", "[v6]:port" -> address and port (443 when absent: captured over TLS). */
export function splitHost(host: string | undefined): { address?: string; port?: number } {
  if (!host) return {};
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(host) ?? /^([^:]+)(?::(\d+))?$/.exec(host);
  if (!m) return { address: host };
  return { address: m[1], port: m[2] ? Number(m[2]) : 443 };
}

function requestParams(ev: LlmCallEvent, a: Attrs): void {
  const p = paramsOf(ev);
  a.dbl('gen_ai.request.temperature', p.temperature);
  a.int('gen_ai.request.max_tokens', p.max_tokens);
  a.dbl('gen_ai.request.top_p', p.top_p);
  a.dbl('gen_ai.request.top_k', p.top_k);
  a.dbl('gen_ai.request.frequency_penalty', p.frequency_penalty);
  a.dbl('gen_ai.request.presence_penalty', p.presence_penalty);
  a.strs('gen_ai.request.stop_sequences', p.stop_sequences);
  a.int('gen_ai.request.seed', p.seed);
  if (p.choice_count !== 1) a.int('gen_ai.request.choice.count', p.choice_count);
}

const endOf = (start: number, durationMs: number | undefined): number =>
  start + Math.max(0, Math.round((durationMs ?? 0) * 1000));

export class SpanMapper {
  readonly #opts: Required<MapperOptions>;
  readonly #out: (s: OtlpSpan) => void;
  readonly #procs = new Map<number, ProcInfo>();
  readonly #agents = new Map<string, Agent>();
  readonly #closed = new Map<string, Agent>();
  readonly #mcpVersion = new Map<string, string>();
  /** Which calls are a sub-agent's (the session model @agentsight/trace keeps for every output). */
  readonly #sessions = new SessionTracker();
  /** Sub-agents by the span of the execute_tool that started them: closed with it. */
  readonly #subs = new Map<string, Agent>();
  #maxTs = 0;
  spans = 0;

  constructor(opts: MapperOptions, out: (s: OtlpSpan) => void) {
    this.#opts = {
      captureContent: false,
      agentIdleMs: 15 * 60_000,
      maxProcs: 65536,
      maxPendingTools: 256,
      prices: DEFAULT_PRICES,
      ...opts,
    };
    this.#out = out;
  }

  #emit(s: OtlpSpan): void {
    this.spans++;
    this.#out(s);
  }

  write(ev: AgentEvent): void {
    if (ev.ts > this.#maxTs) this.#maxTs = ev.ts;
    const where = this.#sessions.observe(ev);
    switch (`${ev.src}/${ev.type}`) {
      case 'llm/call':
        return this.#llm(ev as LlmCallEvent, where);
      case 'mcp/call':
        return this.#mcp(ev as McpCallEvent);
      case 'mcp/notification':
        return this.#notification(ev as McpNotificationEvent);
      case 'proc/exec':
        return this.#exec(ev as ProcExecEvent);
      case 'proc/snapshot':
        return this.#snapshot(ev as ProcSnapshotEvent);
      case 'proc/fork':
        return this.#fork(ev as ProcForkEvent);
      case 'proc/exit':
        return this.#exit(ev as ProcExitEvent);
      case 'trace/link':
        return (ev as TraceLinkEvent).kind === 'tool_process' ? this.#toolProcesses(ev as TraceLinkEvent) : undefined;
      default:
        return;
    }
  }

  /** Close agents idle for too long (wall clock), and forget long-closed ones (event time). */
  tick(nowUs: number): void {
    for (const a of [...this.#agents.values()]) {
      if (!a.proc && nowUs - a.lastWall > this.#opts.agentIdleMs * 1000) this.#close(a, a.lastTs);
    }
    for (const [k, a] of this.#closed) if (this.#maxTs - (a.closedAt ?? 0) > 60e6) this.#closed.delete(k);
  }

  /** End of input: every open agent's root span (and its open tool calls) is emitted. */
  end(): void {
    for (const a of [...this.#agents.values()]) this.#close(a, a.lastTs);
  }

  // ------------------------------------------------------------------ processes

  #remember(p: ProcInfo): void {
    this.#procs.delete(p.pid);
    this.#procs.set(p.pid, p);
    if (this.#procs.size > this.#opts.maxProcs) {
      const oldest = this.#procs.keys().next().value as number;
      this.#procs.delete(oldest);
    }
  }

  #exec(ev: ProcExecEvent): void {
    const open = this.#agents.get(`pid:${ev.pid}`);
    if (open) this.#close(open, ev.ts);
    this.#remember({
      pid: ev.pid,
      ppid: ev.ppid,
      comm: ev.comm,
      filename: ev.filename,
      argv: ev.argv,
      cwd: ev.cwd,
      uid: ev.uid,
      start: ev.ts,
    });
  }

  #snapshot(ev: ProcSnapshotEvent): void {
    if (this.#procs.has(ev.pid)) return;
    this.#remember({
      pid: ev.pid,
      ppid: ev.ppid,
      comm: ev.comm,
      filename: ev.filename,
      argv: ev.argv,
      cwd: ev.cwd,
      uid: ev.uid,
      start: ev.start_ts ?? ev.ts,
    });
  }

  #fork(ev: ProcForkEvent): void {
    const parent = this.#procs.get(ev.ppid);
    this.#remember({
      pid: ev.pid,
      ppid: ev.ppid,
      comm: ev.comm,
      filename: parent?.filename,
      argv: parent?.argv ?? [],
      cwd: parent?.cwd,
      uid: parent?.uid,
      start: ev.ts,
    });
  }

  #exit(ev: ProcExitEvent): void {
    const a = this.#agents.get(`pid:${ev.pid}`);
    if (!a) return;
    a.exit = { code: ev.exit_code, signal: ev.signal };
    this.#close(a, ev.ts);
  }

  // ------------------------------------------------------------------ agents

  /** The agent (trace) an event belongs to; created on its first call. */
  #agent(key: string, pid: number | undefined, firstId: string, ts: number, comm?: string): Agent {
    const open = this.#agents.get(key);
    if (open) return open;
    // A call that completes just after its process's exit event still belongs to that trace.
    const closed = this.#closed.get(key);
    if (closed && ts <= (closed.closedAt ?? 0) + 60e6) return closed;
    const proc = pid !== undefined ? this.#procs.get(pid) : undefined;
    const id = proc ? `proc:${proc.pid}:${proc.start}` : `${key}:${firstId}`;
    // An agent started (directly or not) by another one, e.g. by its shell tool, joins that
    // agent's trace under the tool call that was running when it started.
    let traceId = traceIdOf('agent', id);
    let parentSpanId: string | undefined;
    const start = Math.min(proc?.start ?? ts, ts);
    for (let p = proc?.ppid, depth = 0; p !== undefined && depth < 32; p = this.#procs.get(p)?.ppid, depth++) {
      const up = this.#agents.get(`pid:${p}`);
      if (!up) continue;
      traceId = up.traceId;
      parentSpanId = [...up.pending].reverse().find((t) => t.start <= start)?.spanId ?? up.rootId;
      break;
    }
    const a: Agent = {
      key,
      pid,
      traceId,
      rootId: spanIdOf('agent', id),
      ...(parentSpanId ? { parentSpanId } : {}),
      start,
      lastTs: ts,
      lastWall: Date.now() * 1000,
      proc,
      comm: proc?.comm ?? comm,
      calls: 0,
      usage: { input: 0, output: 0, any: false },
      pending: [],
    };
    this.#agents.set(key, a);
    return a;
  }

  /**
   * The agent process an MCP message belongs to: the nearest agent among the pid and its
   * ancestors. Failing that, for stdio (where the pid is the server's) the server's parent,
   * the client that started it, which is the agent even before its first model call (MCP
   * servers are initialized first); for http the pid is the client's own.
   */
  #mcpAgentKey(pid: number | undefined, channel: string, transport: string): { key: string; pid?: number } {
    const first = pid ?? (/^\d+$/.test(channel) ? Number(channel) : undefined);
    if (first === undefined) return { key: `mcp:${channel}` };
    for (
      let p: number | undefined = first, depth = 0;
      p !== undefined && depth < 32;
      p = this.#procs.get(p)?.ppid, depth++
    ) {
      if (this.#agents.has(`pid:${p}`) || this.#closed.has(`pid:${p}`)) return { key: `pid:${p}`, pid: p };
    }
    const client = transport === 'stdio' ? this.#procs.get(first)?.ppid : undefined;
    if (client !== undefined && client > 1) return { key: `pid:${client}`, pid: client };
    return { key: `pid:${first}`, pid: first };
  }

  #touch(a: Agent, end: number): void {
    if (end > a.lastTs) a.lastTs = end;
    a.lastWall = Date.now() * 1000;
  }

  #close(a: Agent, at: number): void {
    if (a.closedAt !== undefined) return;
    const end = Math.max(at, a.lastTs, a.start);
    for (const t of a.pending.splice(0)) this.#toolSpan(a, t, Math.max(end, t.start), undefined);
    a.closedAt = end;
    this.#agents.delete(a.key);
    this.#closed.set(a.key, a);
    if (this.#closed.size > 1024) this.#closed.delete(this.#closed.keys().next().value as string);

    const p = a.proc;
    const exe = p?.filename ? path.basename(p.filename) : (p?.comm ?? a.comm);
    const name = exe ?? 'agent';
    const at2 = new Attrs()
      .str('gen_ai.operation.name', 'invoke_agent')
      .str('gen_ai.provider.name', a.provider)
      .str('gen_ai.agent.name', name)
      .str('gen_ai.request.model', a.model)
      .int('process.pid', a.pid)
      .int('process.parent_pid', p?.ppid)
      .str('process.executable.name', exe)
      .str('process.executable.path', p?.filename)
      .str('process.command_line', p?.argv.length ? p.argv.join(' ') : undefined)
      .str('process.working_directory', p?.cwd)
      .int('process.user.id', p?.uid)
      .int('process.exit.code', a.exit?.code);
    if (a.usage.any)
      at2.int('gen_ai.usage.input_tokens', a.usage.input).int('gen_ai.usage.output_tokens', a.usage.output);
    at2.int('agentsight.llm.calls', a.calls);
    this.#emit({
      traceId: a.traceId,
      spanId: a.rootId,
      ...(a.parentSpanId ? { parentSpanId: a.parentSpanId } : {}),
      name: `invoke_agent ${name}`,
      kind: SpanKind.INTERNAL,
      startTimeUnixNano: usToNanos(a.start),
      endTimeUnixNano: usToNanos(end),
      attributes: at2.list,
      ...(a.exit?.signal ? { status: { code: StatusCode.ERROR, message: `killed by signal ${a.exit.signal}` } } : {}),
    });
  }

  // ------------------------------------------------------------------ model calls

  /**
   * A sub-agent's own trace node: an `invoke_agent` under the parent's `execute_tool` span
   * of the Task call that started it, in the parent's trace; closed when that tool span is.
   */
  #subAgent(ev: LlmCallEvent, where: CallSession, start: number): Agent | undefined {
    const key = `sub:${where.session}`;
    const open = this.#agents.get(key);
    if (open) return open;
    const parent = ev.pid !== undefined ? this.#agents.get(`pid:${ev.pid}`) : undefined;
    const tool = parent?.pending.find((t) => t.id === where.parent?.toolCall);
    if (!parent || !tool) return undefined;
    const kind = (tool.args as { subagent_type?: unknown } | null)?.subagent_type;
    const a: Agent = {
      key,
      pid: ev.pid,
      traceId: parent.traceId,
      rootId: spanIdOf('agent', key),
      parentSpanId: tool.spanId,
      start,
      lastTs: start,
      lastWall: Date.now() * 1000,
      comm: typeof kind === 'string' ? kind : tool.name,
      calls: 0,
      usage: { input: 0, output: 0, any: false },
      pending: [],
    };
    this.#agents.set(key, a);
    this.#subs.set(tool.spanId, a);
    return a;
  }

  #llm(ev: LlmCallEvent, where: CallSession | undefined): void {
    const start = ev.timing.start;
    const end = endOf(start, ev.timing.duration_ms);
    const key = ev.pid !== undefined ? `pid:${ev.pid}` : `conn:${ev.conn}`;
    const a =
      (where?.parent ? this.#subAgent(ev, where, start) : undefined) ?? this.#agent(key, ev.pid, ev.id, start, ev.comm);
    const provider = otelProviderName(ev.provider, ev.host);
    const op = operationOf(ev.api);
    const reqModel = paramsOf(ev).model ?? ev.model;
    const usage = usageOf(ev);
    a.provider ??= provider;
    a.model ??= reqModel ?? undefined;
    a.calls++;
    const spanId = spanIdOf('llm', ev.id);

    // Tool calls this request answers end where it starts.
    if (a.pending.length) {
      const done = new Set<PendingTool>();
      for (const { call: t, result: r } of pairResults(
        a.pending,
        toolResultsOf(ev.api, ev.request.messages),
        (x) => x.start <= start,
      )) {
        if (t.start > start) continue;
        done.add(t);
        this.#toolSpan(a, t, start, { result: r.result, isError: r.isError === true });
      }
      if (done.size) a.pending = a.pending.filter((t) => !done.has(t));
    }

    const { address, port } = splitHost(ev.host);
    const attrs = new Attrs()
      .str('gen_ai.operation.name', op)
      .str('gen_ai.provider.name', provider)
      .str('gen_ai.request.model', reqModel)
      .str('server.address', address)
      .int('server.port', address ? port : undefined);
    requestParams(ev, attrs);
    attrs
      .str('gen_ai.response.id', ev.response.id ?? undefined)
      .str('gen_ai.response.model', ev.model ?? undefined)
      .strs('gen_ai.response.finish_reasons', ev.response.finish_reason ? [ev.response.finish_reason] : undefined)
      .int('gen_ai.usage.input_tokens', usage.input)
      .int('gen_ai.usage.output_tokens', usage.output)
      .int('gen_ai.usage.cache_read.input_tokens', usage.cache_read)
      .int('gen_ai.usage.cache_creation.input_tokens', usage.cache_write)
      .int('gen_ai.usage.reasoning.output_tokens', usage.reasoning);
    const err = errorOf(ev);
    attrs.str('error.type', err?.type).int('http.response.status_code', ev.status || undefined);
    if (this.#opts.captureContent) {
      attrs.json('gen_ai.system_instructions', systemInstructions(ev.request.system));
      attrs.json('gen_ai.input.messages', inputMessages(ev.api, ev.request.messages));
      attrs.json('gen_ai.output.messages', outputMessages(ev));
      if (ev.request.tools?.length) attrs.json('gen_ai.tool.definitions', ev.request.tools);
    }
    attrs
      .str('agentsight.llm.api', ev.api)
      .bool('agentsight.llm.stream', ev.request.stream)
      .dbl('agentsight.llm.ttft_ms', ev.timing.ttft_ms)
      .str('agentsight.http.request', ev.req)
      .str('agentsight.incomplete', ev.incomplete)
      .str('gen_ai.conversation.id', where && !where.session.startsWith('pid:') ? where.session : undefined)
      .dbl('agentsight.llm.cost_usd', callCost(ev, this.#opts.prices));
    if (usage.input !== undefined || usage.output !== undefined) {
      a.usage.any = true;
      a.usage.input += usage.input ?? 0;
      a.usage.output += usage.output ?? 0;
    }

    this.#emit({
      traceId: a.traceId,
      spanId,
      parentSpanId: a.rootId,
      name: reqModel ? `${op} ${reqModel}` : op,
      kind: SpanKind.CLIENT,
      startTimeUnixNano: usToNanos(start),
      endTimeUnixNano: usToNanos(end),
      attributes: attrs.list,
      ...(err ? { status: { code: StatusCode.ERROR, ...(err.message ? { message: err.message } : {}) } } : {}),
    });

    ev.response.tool_calls.forEach((tc, i) => {
      a.pending.push({
        spanId: spanIdOf('tool', ev.id, i),
        chatSpanId: spanId,
        id: tc.id,
        name: tc.name,
        args: tc.arguments,
        start: end,
      });
    });
    while (a.pending.length > this.#opts.maxPendingTools) this.#toolSpan(a, a.pending.shift()!, end, undefined);
    // A late call of an agent already closed: nothing will end its tool calls later.
    if (a.closedAt !== undefined) for (const t of a.pending.splice(0)) this.#toolSpan(a, t, t.start, undefined);
    this.#touch(a, end);
  }

  #toolSpan(a: Agent, t: PendingTool, end: number, outcome: { result: unknown; isError: boolean } | undefined): void {
    const sub = this.#subs.get(t.spanId);
    if (sub) {
      this.#subs.delete(t.spanId);
      this.#close(sub, Math.min(Math.max(end, sub.lastTs), Math.max(end, t.start)));
    }
    const attrs = new Attrs()
      .str('gen_ai.operation.name', 'execute_tool')
      .str('gen_ai.tool.name', t.name)
      .str('gen_ai.tool.call.id', t.id ?? undefined)
      .str('gen_ai.tool.type', 'function');
    if (outcome?.isError) attrs.str('error.type', 'tool_error');
    if (this.#opts.captureContent) {
      attrs.json('gen_ai.tool.call.arguments', t.args);
      if (outcome && !outcome.isError) attrs.json('gen_ai.tool.call.result', outcome.result);
    }
    if (!outcome) attrs.bool('agentsight.tool.result_seen', false);
    this.#emit({
      traceId: a.traceId,
      spanId: t.spanId,
      parentSpanId: a.rootId,
      name: `execute_tool ${t.name}`,
      kind: SpanKind.INTERNAL,
      startTimeUnixNano: usToNanos(t.start),
      endTimeUnixNano: usToNanos(Math.max(end, t.start)),
      attributes: attrs.list,
      links: [{ traceId: a.traceId, spanId: t.chatSpanId }],
      ...(outcome?.isError
        ? {
            status: {
              code: StatusCode.ERROR,
              ...(typeof outcome.result === 'string' ? { message: outcome.result.slice(0, 1024) } : {}),
            },
          }
        : {}),
    });
  }

  // ------------------------------------------------------------------ what tools ran

  /**
   * A `tool_process` link (from the correlator) names the processes a tool call ran: each
   * becomes an INTERNAL `exec {executable}` span under the tool's execute_tool span (or
   * under its parent process's span), so a backend shows what the tool actually did.
   */
  #toolProcesses(ev: TraceLinkEvent): void {
    const d = ev.detail as { call?: unknown; index?: unknown; agent_pid?: unknown; processes?: unknown } | undefined;
    if (
      !isObj(d) ||
      typeof d.call !== 'string' ||
      typeof d.index !== 'number' ||
      typeof d.agent_pid !== 'number' ||
      !Array.isArray(d.processes)
    )
      return;
    const a = this.#agents.get(`pid:${d.agent_pid}`) ?? this.#closed.get(`pid:${d.agent_pid}`);
    if (!a) return;
    const toolSpan = spanIdOf('tool', d.call, d.index);
    const procs = d.processes.filter(
      (p): p is Obj => isObj(p) && Number.isSafeInteger(p.pid) && Number.isSafeInteger(p.start_ts),
    );
    const spanOf = new Map<number, string>(
      procs.map((p) => [
        p.pid as number,
        spanIdOf('tool-process', d.call as string, d.index as number, p.pid, p.start_ts),
      ]),
    );
    for (const p of procs) {
      const argv = Array.isArray(p.argv) ? p.argv.filter((x: unknown): x is string => typeof x === 'string') : [];
      const exe = argv[0] ? path.basename(argv[0]) : String(p.pid);
      const end = typeof p.end_ts === 'number' ? p.end_ts : Math.max(ev.ts, p.start_ts);
      const attrs = new Attrs()
        .int('process.pid', p.pid)
        .int('process.parent_pid', p.ppid)
        .str('process.executable.name', exe)
        .str('process.command_line', argv.length ? argv.join(' ') : undefined)
        .str('process.working_directory', p.cwd)
        .int('process.exit.code', p.exit_code)
        .int('agentsight.process.files', Array.isArray(p.files) ? p.files.length : undefined)
        .int('agentsight.process.connections', Array.isArray(p.net) ? p.net.length : undefined)
        .bool('agentsight.process.running', p.running === true ? true : undefined)
        .dbl('agentsight.link.confidence', ev.confidence)
        .strs('agentsight.link.reasons', ev.reasons);
      this.#emit({
        traceId: a.traceId,
        spanId: spanOf.get(p.pid)!,
        parentSpanId: (typeof p.ppid === 'number' ? spanOf.get(p.ppid) : undefined) ?? toolSpan,
        name: `exec ${exe}`,
        kind: SpanKind.INTERNAL,
        startTimeUnixNano: usToNanos(p.start_ts),
        endTimeUnixNano: usToNanos(Math.max(end, p.start_ts)),
        attributes: attrs.list,
        ...(typeof p.signal === 'number' && p.signal
          ? { status: { code: StatusCode.ERROR, message: `killed by signal ${p.signal}` } }
          : {}),
      });
    }
  }

  // ------------------------------------------------------------------ MCP

  #mcp(ev: McpCallEvent): void {
    const start = ev.start_ts;
    const end = ev.duration_ms !== undefined ? endOf(start, ev.duration_ms) : Math.max(ev.ts, start);
    const { key, pid } = this.#mcpAgentKey(ev.pid, ev.channel, ev.transport);
    const a = this.#agent(key, pid, `mcp:${ev.channel}:${String(ev.rpc_id)}:${start}`, start, ev.comm);
    const params = isObj(ev.params) ? ev.params : {};
    const result = isObj(ev.result) ? ev.result : undefined;
    if (ev.method === 'initialize') {
      const v = result?.protocolVersion ?? params.protocolVersion;
      if (typeof v === 'string') this.#mcpVersion.set(ev.channel, v);
    }
    const tool =
      ev.method === 'tools/call' ? (ev.tool ?? (typeof params.name === 'string' ? params.name : undefined)) : undefined;
    const prompt = ev.method === 'prompts/get' && typeof params.name === 'string' ? params.name : undefined;
    const target = tool ?? prompt;

    // Under the execute_tool span of the model's call of this tool, when one is open.
    let parent = a.rootId;
    if (tool) {
      const t = [...a.pending]
        .reverse()
        .find(
          (p) => p.start <= start && (p.name === tool || p.name.endsWith(`__${tool}`) || p.name.endsWith(`.${tool}`)),
        );
      if (t) parent = t.spanId;
    }

    const error = isObj(ev.error) ? ev.error : undefined;
    const code = error?.code;
    const toolError = result?.isError === true;
    const attrs = new Attrs()
      .str('mcp.method.name', ev.method)
      .str('gen_ai.tool.name', tool)
      .str('gen_ai.prompt.name', prompt)
      .str('gen_ai.operation.name', tool ? 'execute_tool' : undefined)
      .str('jsonrpc.request.id', ev.rpc_id === null ? undefined : String(ev.rpc_id))
      .str('mcp.resource.uri', ev.method.startsWith('resources/') ? params.uri : undefined)
      .str('mcp.protocol.version', this.#mcpVersion.get(ev.channel))
      .str('network.transport', ev.transport === 'stdio' ? 'pipe' : 'tcp')
      .str('network.protocol.name', ev.transport === 'http' ? 'http' : undefined)
      .str(
        'error.type',
        code !== undefined ? String(code) : ev.error !== undefined ? '_OTHER' : toolError ? 'tool_error' : undefined,
      )
      .str('rpc.response.status_code', code !== undefined ? String(code) : undefined);
    if (this.#opts.captureContent && tool) {
      attrs.json('gen_ai.tool.call.arguments', params.arguments);
      if (!toolError && ev.error === undefined) attrs.json('gen_ai.tool.call.result', ev.result);
    }
    attrs.str('agentsight.mcp.channel', ev.channel);
    const failed = ev.error !== undefined || toolError;
    const message = typeof error?.message === 'string' ? error.message : undefined;
    this.#emit({
      traceId: a.traceId,
      spanId: spanIdOf('mcp', ev.transport, ev.channel, String(ev.rpc_id), start),
      parentSpanId: parent,
      name: target ? `${ev.method} ${target}` : ev.method,
      kind: SpanKind.CLIENT,
      startTimeUnixNano: usToNanos(start),
      endTimeUnixNano: usToNanos(end),
      attributes: attrs.list,
      ...(failed ? { status: { code: StatusCode.ERROR, ...(message ? { message } : {}) } } : {}),
    });
    this.#touch(a, end);
  }

  #notification(ev: McpNotificationEvent): void {
    const { key, pid } = this.#mcpAgentKey(ev.pid, ev.channel, ev.transport);
    const a = this.#agent(key, pid, `mcp:${ev.channel}:${ev.method}:${ev.ts}`, ev.ts, ev.comm);
    const attrs = new Attrs()
      .str('mcp.method.name', ev.method)
      .str('mcp.protocol.version', this.#mcpVersion.get(ev.channel))
      .str('network.transport', ev.transport === 'stdio' ? 'pipe' : 'tcp')
      .str('agentsight.mcp.channel', ev.channel)
      .str('agentsight.mcp.direction', ev.dir);
    this.#emit({
      traceId: a.traceId,
      spanId: spanIdOf('mcp-notification', ev.transport, ev.channel, ev.method, ev.ts),
      parentSpanId: a.rootId,
      name: ev.method,
      kind: ev.dir === 'client' ? SpanKind.CLIENT : SpanKind.SERVER,
      startTimeUnixNano: usToNanos(ev.ts),
      endTimeUnixNano: usToNanos(ev.ts),
      attributes: attrs.list,
    });
    this.#touch(a, ev.ts);
  }
}
