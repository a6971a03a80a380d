import { AGENT_VIA, type AgentEvent, LLM_APIS, SCHEMA_VERSION } from './types.js';

type Kind = 'int' | 'num' | 'str' | 'bool' | 'obj' | 'arr' | 'enc' | 'any';
type Shape = Record<string, Kind>;

// Required fields per `src/type`, beyond the envelope. Optional fields are checked for
// type only when present (see OPTIONAL). Kept as data so the man page and this stay
// easy to compare.
const REQUIRED: Record<string, Shape> = {
  'ssl/data': {
    pid: 'int',
    tid: 'int',
    comm: 'str',
    conn: 'str',
    dir: 'str',
    seq: 'int',
    len: 'int',
    data: 'str',
    enc: 'enc',
    lib: 'str',
  },
  'ssl/handshake': { conn: 'str', lib: 'str', ret: 'int' },
  'ssl/attach': { lib: 'str', path: 'str', symbol: 'str', offset: 'int' },
  'ssl/lost': { records: 'int', bytes: 'int' },
  'stdio/data': { pid: 'int', comm: 'str', fd: 'int', dir: 'str', seq: 'int', len: 'int', data: 'str', enc: 'enc' },
  'stdio/lost': { records: 'int', bytes: 'int' },
  'proc/exec': { pid: 'int', ppid: 'int', uid: 'int', comm: 'str', filename: 'str', argv: 'arr' },
  'proc/fork': { pid: 'int', ppid: 'int', comm: 'str' },
  'proc/exit': { pid: 'int', comm: 'str' },
  'proc/open': { pid: 'int', path: 'str', flags: 'int', ret: 'int' },
  'proc/connect': { pid: 'int', family: 'str', ret: 'int' },
  'proc/bind': { pid: 'int', family: 'str', ret: 'int' },
  'proc/listen': { pid: 'int', family: 'str', ret: 'int' },
  'proc/unlink': { pid: 'int', path: 'str', ret: 'int' },
  'proc/rename': { pid: 'int', path: 'str', ret: 'int' },
  'proc/metrics': { pid: 'int', cpu_pct: 'num', rss_kb: 'int', threads: 'int' },
  'proc/snapshot': { pid: 'int', ppid: 'int', comm: 'str', argv: 'arr' },
  'proc/lost': { records: 'int', bytes: 'int' },
  'http/request': {
    conn: 'str',
    id: 'str',
    method: 'str',
    path: 'str',
    headers: 'obj',
    body_size: 'int',
    start_ts: 'int',
  },
  'http/response': {
    conn: 'str',
    req: 'str',
    status: 'int',
    headers: 'obj',
    body_size: 'int',
    latency_ms: 'num',
    start_ts: 'int',
  },
  'http/sse': { conn: 'str', req: 'str', n: 'int', data: 'str' },
  'http/ws': { conn: 'str', req: 'str', from: 'str', opcode: 'str', n: 'int', size: 'int', data: 'str', enc: 'enc' },
  'http/unparsed': { conn: 'str', reason: 'str', bytes: 'int' },
  'llm/call': {
    id: 'str',
    provider: 'str',
    api: 'str',
    request: 'obj',
    response: 'obj',
    usage: 'obj',
    status: 'int',
    timing: 'obj',
    conn: 'str',
    req: 'str',
  },
  'llm/delta': { id: 'str', kind: 'str', text: 'str', conn: 'str' },
  'mcp/call': { transport: 'str', channel: 'str', method: 'str', start_ts: 'int' },
  'mcp/notification': { transport: 'str', channel: 'str', method: 'str', dir: 'str' },
  'trace/link': { kind: 'str', from: 'str', confidence: 'num', reasons: 'arr' },
  'trace/alert': { rule: 'str', severity: 'str', message: 'str' },
  'meta/run': { run: 'str' },
  'meta/stop': {},
  'meta/gap': { from: 'int', to: 'int', reason: 'str' },
  'meta/stats': { cpu_pct: 'num', rss_kb: 'int', lost_records: 'int', store_bytes: 'int' },
};

const OPTIONAL: Shape = { pid: 'int', tid: 'int', comm: 'str', enc: 'enc', data: 'str' };

// Inner fields that consumers (as-serve, as-otel, agentsight report) read as typed: checked
// here, once, so a mistyped one is the reader's `file:line` diagnostic and not a crash in
// whichever consumer touches it first. `?` marks an optional field, `|null` a nullable one.
type Inner = Record<string, string>;
/** Where a process runs (ProcPlace), on exec and snapshot events. */
const PLACE: Inner = { cgroup: 'str?', cgroup_id: 'int?', ns_pid: 'int?', container: 'obj?' };
const NESTED: Record<string, Record<string, Inner | string>> = {
  'llm/call': {
    api: 'api',
    model: 'str|null',
    request: { stream: 'bool?', messages: 'arr?', tools: 'arr?', params: 'obj?' },
    response: {
      text: 'str',
      thinking: 'str|null?',
      tool_calls: 'calls',
      finish_reason: 'str|null?',
      id: 'str|null?',
      refusal: 'str?',
    },
    usage: {
      input_tokens: 'count?',
      output_tokens: 'count?',
      cache_read_input_tokens: 'count?',
      cache_creation_input_tokens: 'count?',
      reasoning_tokens: 'count?',
    },
    timing: { start: 'int', duration_ms: 'num', ttft_ms: 'num?' },
    incomplete: 'str?',
    host: 'str?',
    fd: 'int?',
    agent: 'agent?',
  },
  'ssl/attach': { container: 'obj?' },
  'proc/exec': { argv: 'strs', cwd: 'str?', old_tid: 'int?', agent: 'agent?', ...PLACE },
  'proc/snapshot': {
    argv: 'strs',
    uid: 'int?',
    filename: 'str?',
    cwd: 'str?',
    start_ts: 'int?',
    agent: 'agent?',
    ...PLACE,
  },
  'proc/exit': {
    exit_code: 'int?',
    signal: 'int?',
    duration_ms: 'num?',
    ppid: 'int?',
    cpu_ms: 'num?',
    maxrss_kb: 'int?',
  },
  'proc/open': { count: 'int?' },
  'proc/connect': { addr: 'str?', port: 'int?', fd: 'int?' },
  'proc/bind': { addr: 'str?', port: 'int?', fd: 'int?' },
  'proc/listen': { addr: 'str?', port: 'int?', fd: 'int?' },
  'proc/unlink': { to: 'str?' },
  'proc/rename': { to: 'str?' },
  'http/request': { headers: 'hdrs', host: 'str?' },
  'http/response': { headers: 'hdrs' },
  'mcp/call': { rpc_id: 'str|num|null?', tool: 'str?', duration_ms: 'num?', incomplete: 'str?' },
  'trace/link': { to: 'str|num|arr', reasons: 'strs' },
  'meta/run': { host: 'str?', command: 'str?', capture: 'str?', tool: 'str?' },
  'meta/stop': { run: 'str?' },
};

function checkInner(value: unknown, spec: string): boolean {
  const optional = spec.endsWith('?');
  const kinds = (optional ? spec.slice(0, -1) : spec).split('|');
  if (value === undefined) return optional;
  return kinds.some((k) => {
    switch (k) {
      case 'null':
        return value === null;
      case 'api':
        return (LLM_APIS as readonly unknown[]).includes(value);
      case 'count':
        return typeof value === 'number' && Number.isFinite(value) && value >= 0;
      case 'strs':
        return Array.isArray(value) && value.every((x) => typeof x === 'string');
      case 'agent': {
        const a = value as { id?: unknown; name?: unknown; via?: unknown };
        return (
          check(value, 'obj') &&
          typeof a.id === 'string' &&
          typeof a.name === 'string' &&
          (AGENT_VIA as readonly unknown[]).includes(a.via)
        );
      }
      case 'hdrs':
        return check(value, 'obj') && Object.values(value as object).every((x) => typeof x === 'string');
      case 'calls':
        return (
          Array.isArray(value) &&
          value.every(
            (c) =>
              check(c, 'obj') &&
              typeof (c as { name?: unknown }).name === 'string' &&
              ((c as { id?: unknown }).id == null || typeof (c as { id?: unknown }).id === 'string'),
          )
        );
      default:
        return check(value, k as Kind);
    }
  });
}

const describe = (spec: string) =>
  spec
    .replace(/\?$/, '')
    .replace('api', `one of ${LLM_APIS.join(', ')}`)
    .replace('calls', 'array of tool calls')
    .replace('strs', 'array of strings')
    .replace('hdrs', 'object of strings')
    .replace('agent', `{id, name, via: one of ${AGENT_VIA.join(', ')}}`)
    .split('|')
    .join(' or ');

function nested(e: Record<string, unknown>, shape: Record<string, Inner | string>): string | null {
  for (const [k, spec] of Object.entries(shape)) {
    if (typeof spec === 'string') {
      if (!checkInner(e[k], spec)) return `${k}: want ${describe(spec)}`;
      continue;
    }
    const o = e[k] as Record<string, unknown>;
    for (const [f, fs] of Object.entries(spec)) {
      if (!checkInner(o[f], fs))
        return `${k}.${f}: want ${describe(fs)}, got ${o[f] === undefined ? 'nothing' : JSON.stringify(o[f])?.slice(0, 40)}`;
    }
  }
  return null;
}

function check(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'int':
      return Number.isSafeInteger(value);
    case 'num':
      return typeof value === 'number' && Number.isFinite(value);
    case 'str':
      return typeof value === 'string';
    case 'bool':
      return typeof value === 'boolean';
    case 'obj':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'arr':
      return Array.isArray(value);
    case 'enc':
      return value === 'utf8' || value === 'base64';
    case 'any':
      return true;
  }
}

/**
 * Check that a parsed line is an event this schema version describes.
 * Returns null when valid, else a short reason naming the first bad field.
 * Unknown `src/type` pairs pass with the envelope checked only, so newer
 * producers do not break older consumers.
 */
export function validateEvent(x: unknown): string | null {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) {
    return `not a JSON object (${x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x})`;
  }
  const e = x as Record<string, unknown>;
  if (e.v !== SCHEMA_VERSION) return `unsupported schema version ${JSON.stringify(e.v)} (want ${SCHEMA_VERSION})`;
  if (!Number.isSafeInteger(e.ts) || (e.ts as number) < 0) return 'ts: want integer microseconds since the epoch';
  if (typeof e.src !== 'string' || e.src === '') return 'src: want a non-empty string';
  if (typeof e.type !== 'string' || e.type === '') return 'type: want a non-empty string';
  const shape = REQUIRED[`${e.src}/${e.type}`];
  if (shape) {
    for (const [k, kind] of Object.entries(shape)) {
      if (!check(e[k], kind))
        return `${e.src}/${e.type}: ${k}: want ${kind}, got ${e[k] === undefined ? 'nothing' : JSON.stringify(e[k])?.slice(0, 40)}`;
    }
    const inner = NESTED[`${e.src}/${e.type}`];
    const why = inner && nested(e, inner);
    if (why) return `${e.src}/${e.type}: ${why}`;
  }
  for (const [k, kind] of Object.entries(OPTIONAL)) {
    if (e[k] !== undefined && !check(e[k], kind)) return `${k}: want ${kind}`;
  }
  if (typeof e.data === 'string' && e.enc === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(e.data)) {
    return 'data: not valid base64';
  }
  return null;
}

/** Narrowing helper for consumers that filter by source and type. */
export function isEvent<S extends AgentEvent['src'], T extends string>(
  e: AgentEvent,
  src: S,
  type: T,
): e is Extract<AgentEvent, { src: S; type: T }> {
  return e.src === src && e.type === type;
}
