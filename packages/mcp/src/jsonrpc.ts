import { parseJson } from '@agentsight/events';

/** A JSON-RPC 2.0 message, classified. */
export type RpcMessage =
  | { kind: 'request'; id: string | number; method: string; params?: unknown }
  | { kind: 'notification'; method: string; params?: unknown }
  | { kind: 'response'; id: string | number | null; result?: unknown; error?: unknown };

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Classify one parsed value as a JSON-RPC 2.0 message, or null when it is not one. */
export function classify(x: unknown): RpcMessage | null {
  if (!isObj(x) || x.jsonrpc !== '2.0') return null;
  const id = x.id;
  const validId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  if (typeof x.method === 'string') {
    if (validId)
      return {
        kind: 'request',
        id: id as string | number,
        method: x.method,
        ...(x.params !== undefined ? { params: x.params } : {}),
      };
    if (id === undefined)
      return { kind: 'notification', method: x.method, ...(x.params !== undefined ? { params: x.params } : {}) };
    return null;
  }
  if ('result' in x || 'error' in x) {
    return {
      kind: 'response',
      id: validId ? (id as string | number) : null,
      ...('result' in x ? { result: x.result } : {}),
      ...('error' in x ? { error: x.error } : {}),
    };
  }
  return null;
}

/** All JSON-RPC messages in a parsed value (a single message or a batch), else []. */
export function messagesOf(x: unknown): RpcMessage[] {
  if (Array.isArray(x)) {
    const out: RpcMessage[] = [];
    for (const m of x) {
      const c = classify(m);
      if (c) out.push(c);
    }
    return out;
  }
  const c = classify(x);
  return c ? [c] : [];
}

/** Parse text as JSON-RPC message(s); [] when it is not JSON or not JSON-RPC. */
export function parseRpc(text: string): RpcMessage[] {
  const t = text.trim();
  if (!t || (t[0] !== '{' && t[0] !== '[')) return [];
  const r = parseJson(t);
  return r.ok ? messagesOf(r.value) : [];
}
