// The one way untrusted JSON is parsed. V8's JSON.parse takes any depth, but JSON.stringify,
// SQLite's JSON functions and every recursive walk over the value do not: a line nested a few
// thousand deep parses fine and then kills the tool with a RangeError wherever the value is
// next written. So depth is bounded here, once, where the value enters.

/** Deepest nesting accepted in an NDJSON event line. */
export const MAX_EVENT_DEPTH = 512;
/**
 * Deepest nesting accepted in a payload parsed out of an event (a body, an SSE message, tool
 * arguments): lower than MAX_EVENT_DEPTH, so the event that carries it is still a valid line.
 */
export const MAX_PAYLOAD_DEPTH = 256;

export type JsonResult = { ok: true; value: unknown } | { ok: false; reason: string };

/** True when `v` holds arrays or objects nested more than `max` deep. Iterative: any depth is safe. */
export function deeperThan(v: unknown, max: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const stack: unknown[] = [v];
  const depths: number[] = [1];
  while (stack.length) {
    const x = stack.pop() as Record<string, unknown> | unknown[];
    const d = depths.pop() as number;
    if (d > max) return true;
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) {
        const c = x[i];
        if (typeof c === 'object' && c !== null) {
          stack.push(c);
          depths.push(d + 1);
        }
      }
    } else {
      for (const k in x) {
        const c = x[k];
        if (typeof c === 'object' && c !== null) {
          stack.push(c);
          depths.push(d + 1);
        }
      }
    }
  }
  return false;
}

/** Parse untrusted JSON text with nesting bounded to `maxDepth`; never throws. */
export function parseJson(text: string, maxDepth = MAX_PAYLOAD_DEPTH): JsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `invalid JSON: ${(e as Error).message}` };
  }
  // A value with more nesting than bytes/1 cannot exist: short text needs no walk.
  if (text.length > maxDepth && deeperThan(value, maxDepth)) {
    return { ok: false, reason: `JSON nested deeper than ${maxDepth}` };
  }
  return { ok: true, value };
}
