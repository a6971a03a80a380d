// The event contract: the API between every agentsight tool.
//
// One NDJSON line per event. Every event has `v`, `ts`, `src` and `type`; events that
// come from a process carry `pid`, `tid` and `comm`. Field meanings are documented
// once, in man/agentsight-events.7; keep this file and that page in step.

/** Schema version written by this code. Readers accept this version only. */
export const SCHEMA_VERSION = 1 as const;

/** How `data` holds bytes: as the UTF-8 text itself, or base64 when not valid UTF-8. */
export type Encoding = 'utf8' | 'base64';

/** A byte payload that round-trips exactly through JSON. */
export interface Payload {
  data: string;
  enc: Encoding;
}

export type Source = 'ssl' | 'proc' | 'stdio' | 'http' | 'llm' | 'mcp' | 'trace' | 'meta';

export interface EventBase {
  v: typeof SCHEMA_VERSION;
  /** Wall-clock time, integer microseconds since the Unix epoch. */
  ts: number;
  src: Source;
  type: string;
  pid?: number;
  tid?: number;
  comm?: string;
}

// ---------------------------------------------------------------- ssl (as-sslsniff)

export type TlsLib = 'openssl' | 'boringssl' | 'gnutls' | 'nss' | 'rustls' | 'go';

/** Plaintext passed to or returned from one TLS read/write call (or one piece of it). */
export interface SslDataEvent extends EventBase, Payload {
  src: 'ssl';
  type: 'data';
  pid: number;
  tid: number;
  comm: string;
  /** Connection identity: stable for the life of the TLS session, unique per machine. */
  conn: string;
  dir: 'read' | 'write';
  /** Per (conn, dir), consecutive from 0. A gap means loss, reported by a `lost` event. */
  seq: number;
  /** Bytes the call moved (its return value). */
  len: number;
  /** Offset of this piece within the call, when a call is split over several events. */
  off?: number;
  /** Set when fewer than `len` bytes were captured for this call (per-call cap, or fault). */
  truncated?: boolean;
  lib: TlsLib;
  /** The socket under the connection (joins `proc` connect events on pid + fd); absent when
   * the library does its socket I/O outside the TLS call (node: memory BIOs). */
  fd?: number;
  latency_us?: number;
}

export interface SslHandshakeEvent extends EventBase {
  src: 'ssl';
  type: 'handshake';
  conn: string;
  lib: TlsLib;
  ret: number;
  latency_us?: number;
  fd?: number;
}

/** Loss since the previous `lost` event, from the kernel-side counters. */
export interface LostEvent extends EventBase {
  src: 'ssl' | 'stdio' | 'proc';
  type: 'lost';
  records: number;
  bytes: number;
  /** Reads of user memory that faulted (data missing, call still reported). */
  faults?: number;
}

export interface SslAttachEvent extends EventBase {
  src: 'ssl';
  type: 'attach';
  lib: TlsLib;
  path: string;
  symbol: string;
  offset: number;
  /** How the symbol was found: dynsym, symtab, a heuristic for stripped binaries, or Go's pclntab. */
  method?: string;
  /** The container of the process the file was hooked for, where it runs in one. */
  container?: ContainerInfo;
}

// ---------------------------------------------------------------- proc (as-proc)

/** Container runtimes told apart by their cgroup names (packages/container). */
export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman';

/** The container a process runs in, and its Kubernetes pod where it is one's. */
export interface ContainerInfo {
  /** The runtime's full container id (64 hex digits). */
  id: string;
  runtime: ContainerRuntime;
  /** The container's name, where the runtime keeps one on the node's disk. */
  name?: string;
  pod?: { uid?: string; namespace?: string; name?: string; container?: string };
}

/** Where a process runs, on the events that introduce it (exec, snapshot). */
export interface ProcPlace {
  /** The process's cgroup (v2 path) and its id as BPF sees it (bpf_get_current_cgroup_id). */
  cgroup?: string;
  cgroup_id?: number;
  /** The container it runs in, if any. */
  container?: ContainerInfo;
  /** Its pid as its own pid namespace sees it, where that differs from `pid`. */
  ns_pid?: number;
}

/**
 * How a process was recognised as an agent (packages/agents): its executable's name, a
 * package path (of the executable or the script an interpreter runs), the script's name in
 * argv, or its LLM calls (the User-Agent they carry, else only that it made them).
 */
export const AGENT_VIA = ['exe', 'path', 'argv', 'user-agent', 'traffic'] as const;
export type AgentVia = (typeof AGENT_VIA)[number];

/** The agent a process is: `id` is stable (selectors name it: `agent:claude-code`), `name` is for people. */
export interface AgentInfo {
  id: string;
  name: string;
  via: AgentVia;
}

export interface ProcExecEvent extends EventBase, ProcPlace {
  src: 'proc';
  type: 'exec';
  pid: number;
  ppid: number;
  uid: number;
  comm: string;
  filename: string;
  argv: string[];
  cwd?: string;
  /** The argument block was longer than the kernel side copies (16 KiB): argv is cut. */
  argv_truncated?: boolean;
  /** Exec from a non-leader thread: the tid that called execve (it now has the pid). */
  old_tid?: number;
  /** The program is a known agent (by executable, package path or argv). */
  agent?: AgentInfo;
}
export interface ProcForkEvent extends EventBase {
  src: 'proc';
  type: 'fork';
  pid: number;
  ppid: number;
  comm: string;
}
export interface ProcExitEvent extends EventBase {
  src: 'proc';
  type: 'exit';
  pid: number;
  comm: string;
  exit_code?: number;
  signal?: number;
  duration_ms?: number;
  ppid?: number;
  /** CPU time of the whole process (user + system), ms. */
  cpu_ms?: number;
  /** Peak resident set, KiB. */
  maxrss_kb?: number;
  core_dumped?: boolean;
}
export interface ProcOpenEvent extends EventBase {
  src: 'proc';
  type: 'open';
  pid: number;
  path: string;
  flags: number;
  /** fd on success, negative errno on failure. */
  ret: number;
  /** With `folded`: how many opens this event stands for. */
  count?: number;
  /** Noisy opens (/proc, /sys, the dynamic loader's) summed per process under `path` (a
   * directory, or the file), reported when the process exits. */
  folded?: boolean;
}
export interface ProcConnectEvent extends EventBase {
  src: 'proc';
  type: 'connect' | 'bind' | 'listen';
  pid: number;
  family: 'inet' | 'inet6' | 'unix' | string;
  addr?: string;
  port?: number;
  ret: number;
  fd?: number;
}
export interface ProcFileOpEvent extends EventBase {
  src: 'proc';
  type: 'unlink' | 'rename';
  pid: number;
  path: string;
  /** For rename: the new path. */
  to?: string;
  ret: number;
  /** unlinkat/renameat2 flags, when non-zero. */
  flags?: number;
}
export interface ProcMetricsEvent extends EventBase {
  src: 'proc';
  type: 'metrics';
  pid: number;
  cpu_pct: number;
  rss_kb: number;
  threads: number;
}
/** A process that existed before the tool started, read from /proc. */
export interface ProcSnapshotEvent extends EventBase, ProcPlace {
  src: 'proc';
  type: 'snapshot';
  pid: number;
  ppid: number;
  uid?: number;
  comm: string;
  filename?: string;
  argv: string[];
  cwd?: string;
  start_ts?: number;
  agent?: AgentInfo;
}

// ---------------------------------------------------------------- stdio (as-stdiocap)

export interface StdioDataEvent extends EventBase, Payload {
  src: 'stdio';
  type: 'data';
  pid: number;
  tid?: number;
  comm: string;
  fd: 0 | 1 | 2;
  dir: 'read' | 'write';
  /** Per (pid, fd, dir), consecutive from 0. */
  seq: number;
  len: number;
  off?: number;
  truncated?: boolean;
}

// ---------------------------------------------------------------- http (as-http)

/** Header names are lower-cased; repeated headers are joined with ", " (set-cookie with "\n"). */
export type Headers = Record<string, string>;

interface HttpBase extends EventBase {
  src: 'http';
  conn: string;
  /** The connection's socket, when the capture knew it (ssl `data` events' `fd`). */
  fd?: number;
  /** "HTTP/1.1", "HTTP/1.0", "h2". */
  protocol?: string;
}

export interface HttpRequestEvent extends HttpBase, Partial<Payload> {
  type: 'request';
  /** Reference other events use to point at this request: `${conn}#${n}`. */
  id: string;
  method: string;
  path: string;
  host?: string;
  headers: Headers;
  /** Decoded body size in bytes. */
  body_size: number;
  /** Size on the wire before Content-Encoding was undone. */
  raw_size?: number;
  /** Time the first byte of the request was seen (µs since epoch); `ts` is when it completed. */
  start_ts: number;
  body_truncated?: boolean;
  /** Chunked trailers, when the message had any (same form as `headers`). */
  trailers?: Headers;
  /** Set when the message was cut short (lost capture data, idle timeout, end of input): the reason. */
  incomplete?: string;
  /** Content-Encoding that could not be undone (unsupported, corrupt): the body is the raw bytes. */
  decode_error?: string;
}

export interface HttpResponseEvent extends HttpBase, Partial<Payload> {
  type: 'response';
  /** The `id` of the request this answers. */
  req: string;
  status: number;
  reason?: string;
  headers: Headers;
  body_size: number;
  raw_size?: number;
  /** From the end of the request to the end of the response. */
  latency_ms: number;
  start_ts: number;
  /** For text/event-stream responses the body is delivered as `sse` events, not here. */
  sse_count?: number;
  /** Response ended by connection close or cut short; what arrived is reported. */
  incomplete?: string;
  body_truncated?: boolean;
  trailers?: Headers;
  decode_error?: string;
}

export interface HttpSseEvent extends HttpBase {
  type: 'sse';
  req: string;
  /** Index of this message within the response, from 0. */
  n: number;
  event?: string;
  data: string;
  id?: string;
  retry?: number;
  /** On the first message only: from the end of the request to this message. */
  ttft_ms?: number;
}

/** A WebSocket message on a connection upgraded from HTTP/1.1: fragments joined, inflated. */
export interface HttpWsEvent extends HttpBase, Payload {
  type: 'ws';
  /** The `id` of the upgrade request. */
  req: string;
  from: 'client' | 'server';
  opcode: 'text' | 'binary' | 'close' | 'ping' | 'pong';
  /** Index of this message on the connection, both directions counted, from 0. */
  n: number;
  /** Message size after permessage-deflate was undone. */
  size: number;
  compressed?: boolean;
  /** Cut at --max-body-mb. */
  truncated?: boolean;
}

/** A connection (or direction) whose bytes are not HTTP; reported once. */
export interface HttpUnparsedEvent extends HttpBase {
  type: 'unparsed';
  reason: string;
  bytes: number;
}

// ---------------------------------------------------------------- llm (as-merge)

/** Every API format as-merge knows; consumers dispatch on it, so the validator admits no other. */
export const LLM_APIS = [
  'anthropic.messages',
  'openai.chat',
  'openai.responses',
  'gemini',
  'bedrock.converse',
] as const;
export type LlmApi = (typeof LLM_APIS)[number];

export interface ToolCall {
  id: string | null;
  name: string;
  /** Parsed JSON where the model sent JSON, else the raw string. */
  arguments: unknown;
}

export interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  reasoning_tokens?: number;
}

export interface LlmCallEvent extends EventBase {
  src: 'llm';
  type: 'call';
  /** Stable identity: derived from the http request reference. */
  id: string;
  provider: string;
  api: LlmApi;
  model: string | null;
  request: {
    system?: unknown;
    messages?: unknown[];
    tools?: unknown[];
    params?: Record<string, unknown>;
    stream: boolean;
    /** The captured request body was cut short (capture limit): the fields above are what could be read. */
    truncated?: boolean;
  };
  response: {
    id?: string | null;
    text: string;
    thinking: string | null;
    tool_calls: ToolCall[];
    finish_reason: string | null;
    /** OpenAI Chat `refusal` text, when the model refused. */
    refusal?: string;
  };
  usage: Usage;
  status: number;
  error?: unknown;
  /** Set when the call did not complete normally: the reason. */
  incomplete?: string;
  timing: { start: number; ttft_ms?: number; duration_ms: number };
  conn: string;
  /** The socket the call went over, when known: with `pid`, joins the proc `connect` event. */
  fd?: number;
  host?: string;
  /** The http request reference. */
  req: string;
  /** The agent that made the call: its process's, else recognised from the call (user agent, provider). */
  agent?: AgentInfo;
}

/** Incremental output of a streaming call, with `as-merge --live`. */
export interface LlmDeltaEvent extends EventBase {
  src: 'llm';
  type: 'delta';
  id: string;
  kind: 'text' | 'thinking' | 'tool_call';
  text: string;
  conn: string;
}

// ---------------------------------------------------------------- mcp (as-merge)

export interface McpCallEvent extends EventBase {
  src: 'mcp';
  type: 'call';
  /** "stdio" or "http". */
  transport: string;
  /** For stdio: `${pid}`; for http: the connection. */
  channel: string;
  rpc_id: string | number;
  method: string;
  /** For tools/call. */
  tool?: string;
  params?: unknown;
  result?: unknown;
  error?: unknown;
  duration_ms?: number;
  start_ts: number;
  /** Set when the server sent the request (sampling, roots/list); absent for client requests. */
  from?: 'client' | 'server';
  /** Set when no response was seen (timeout, end of input, eviction): the reason. */
  incomplete?: string;
}
export interface McpNotificationEvent extends EventBase {
  src: 'mcp';
  type: 'notification';
  transport: string;
  channel: string;
  method: string;
  params?: unknown;
  /** Direction of the message: from the client to the server, or back. */
  dir: 'client' | 'server';
}

// ---------------------------------------------------------------- trace (correlation)

export interface TraceLinkEvent extends EventBase {
  src: 'trace';
  type: 'link';
  kind: 'tool_process' | 'tool_result' | 'session';
  from: string;
  to: string | number | Array<string | number>;
  confidence: number;
  reasons: string[];
  detail?: unknown;
}
export interface TraceAlertEvent extends EventBase {
  src: 'trace';
  type: 'alert';
  rule: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  evidence: unknown;
}

// ---------------------------------------------------------------- meta (every tool)

/** Diagnostics and run bookkeeping that belong in the stream (not on stderr). */
export interface MetaEvent extends EventBase {
  src: 'meta';
  type: 'start' | 'stop' | 'stats' | 'error' | string;
  tool?: string;
  [k: string]: unknown;
}

/**
 * The start of a run: one `agentsight exec`, `record` or `monitor` segment. The events after
 * it belong to the run until a `meta/stop` carrying the same `run`, or the stream's end.
 */
export interface MetaRunEvent extends EventBase {
  src: 'meta';
  type: 'run';
  /** Unique per run (host, start time, pid). */
  run: string;
  /** The machine it ran on (hostname). */
  host?: string;
  /** What was traced: the command line (exec), or the target (record -p/-c, monitor). */
  command?: string;
  /** The capture file written, when there is one. */
  capture?: string;
  tool?: string;
}

/**
 * A stretch of time nothing was captured, recorded by the long-running monitor when it starts:
 * `from` is the last event a previous run stored, `to` this run's start (both µs).
 */
export interface MetaGapEvent extends EventBase {
  src: 'meta';
  type: 'gap';
  from: number;
  to: number;
  /** `crash`: the previous run ended without its stop event (killed, power lost); `stopped`: it stopped cleanly. */
  reason: 'crash' | 'stopped';
  /** The run that ended (its meta start's `run`). */
  run?: string;
  tool?: string;
}

/** What a long-running capture costs, now and then (agentsight monitor). */
export interface MetaStatsEvent extends EventBase {
  src: 'meta';
  type: 'stats';
  tool?: string;
  /** CPU of the capture process since the previous stats event, % of one core. */
  cpu_pct: number;
  rss_kb: number;
  /** Records the kernel could not deliver since the run started. */
  lost_records: number;
  /** Bytes the store takes on disk (database and its write-ahead log). */
  store_bytes: number;
  /** Events stored since the run started. */
  events?: number;
}

export type SslEvent = SslDataEvent | SslHandshakeEvent | SslAttachEvent | LostEvent;
export type ProcEvent =
  | ProcExecEvent
  | ProcForkEvent
  | ProcExitEvent
  | ProcOpenEvent
  | ProcConnectEvent
  | ProcFileOpEvent
  | ProcMetricsEvent
  | ProcSnapshotEvent
  | LostEvent;
export type HttpEvent = HttpRequestEvent | HttpResponseEvent | HttpSseEvent | HttpWsEvent | HttpUnparsedEvent;
export type LlmEvent = LlmCallEvent | LlmDeltaEvent;
export type McpEvent = McpCallEvent | McpNotificationEvent;
export type TraceEvent = TraceLinkEvent | TraceAlertEvent;

export type AgentEvent =
  | SslEvent
  | ProcEvent
  | StdioDataEvent
  | HttpEvent
  | LlmEvent
  | McpEvent
  | TraceEvent
  | MetaRunEvent
  | MetaGapEvent
  | MetaStatsEvent
  | MetaEvent;

/** Fields every tool fills in; what `makeEvent` adds. */
export type Envelope = Pick<EventBase, 'v' | 'ts'>;
