import { parseJson, type Usage } from '@agentsight/events';

export type Obj = Record<string, unknown>;

export function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function str(x: unknown): string | null {
  return typeof x === 'string' ? x : null;
}

/** A non-negative integer count, or undefined: usage fields from the wire are not trusted. */
/** A string field from the wire: a string as it is, a number or boolean as text, anything
 * else the fallback (String() of an object with a `toString` key from JSON throws). */
export function text(x: unknown, fallback = ''): string {
  if (typeof x === 'string') return x;
  return typeof x === 'number' || typeof x === 'boolean' ? String(x) : fallback;
}

/** Why a streamed message is incomplete, if it is: an error body is a complete answer; an error
 * event, a decoding problem, a stream cut before `end`, or no message at all are not. */
export function incompleteReason(
  s: { errorBody: boolean; error: unknown; bad: string | undefined; started: boolean; done: boolean },
  end: string,
): string | undefined {
  if (s.errorBody) return undefined;
  if (s.error !== undefined) return 'error event';
  if (s.bad !== undefined) return s.bad;
  if (!s.started) return 'no message';
  return s.done ? undefined : `stream ended before ${end}`;
}

export function count(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : undefined;
}

let deep = 0;

/**
 * Payloads refused so far for nesting too deep. Counted here rather than passed up, since
 * they are parsed deep inside the provider modules; MergeStage reads it around each event.
 */
export function deepPayloads(): number {
  return deep;
}

/** Parse JSON (depth-bounded), or undefined when it is not JSON or nested too deep. */
export function tryJson(s: string): unknown {
  const r = parseJson(s);
  if (r.ok) return r.value;
  if (r.reason.startsWith('JSON nested')) deep++;
  return undefined;
}

/**
 * Tool-call arguments: the parsed value when the model sent JSON, else the raw string.
 * An empty string means "no arguments" to every provider, i.e. `{}`.
 */
export function parseArgs(s: string): unknown {
  if (s.trim() === '') return {};
  const v = tryJson(s);
  return v === undefined ? s : v;
}

/** Build a Usage with only the keys that have a value, in a fixed order. */
export function usage(u: { [K in keyof Usage]: unknown }): Usage {
  const out: Usage = {};
  for (const k of [
    'input_tokens',
    'output_tokens',
    'cache_read_input_tokens',
    'cache_creation_input_tokens',
    'reasoning_tokens',
  ] as const) {
    const n = count(u[k]);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

/** Split a request body into the fields the event names and the rest (`params`). */
export function restParams(body: Obj, taken: string[]): Record<string, unknown> | undefined {
  const params: Record<string, unknown> = {};
  let any = false;
  for (const [k, v] of Object.entries(body)) {
    if (taken.includes(k)) continue;
    params[k] = v;
    any = true;
  }
  return any ? params : undefined;
}

/** Parse an SSE data payload as a JSON object, or null. */
export function sseJson(data: string): Obj | null {
  const v = tryJson(data);
  return isObj(v) ? v : null;
}
