import type { AgentEvent } from '@agentsight/events';

// as-http already redacts credential headers, but as-serve also stores raw `ssl`, `stdio`
// and `proc` events whose bytes never went through as-http (an agent's `curl -H
// "Authorization: …"`, a key echoed to stdout). Everything is scrubbed once, before it is
// written to the store, so neither the database file nor the API can hand a secret back.

export const REDACTED = '[REDACTED]';

/** Header names whose values are credentials. */
const SECRET_HEADERS = new Set([
  'authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'cookie', 'set-cookie',
  'x-auth-token', 'openai-organization', 'anthropic-api-key', 'x-amz-security-token',
]);

// `Name: value` lines inside raw HTTP text (ssl/stdio payloads, argv of curl, …).
const HEADER_LINE = /\b(authorization|proxy-authorization|x-api-key|api-key|x-goog-api-key|cookie|set-cookie|x-auth-token|anthropic-api-key|x-amz-security-token)(\s*:\s*)([^\r\n"\\]+)/gi;
// Well-known key shapes, wherever they appear (JSON bodies, env dumps, tool output).
const KEY_SHAPES: RegExp[] = [
  /\bsk-ant-[A-Za-z0-9_-]{8,}/g,
  /\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{16,}/g,
  /\bAIza[0-9A-Za-z_-]{30,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{12,}/g,
];
// Secrets in URLs: ?key=…, &api_key=…, &access_token=…
const QUERY_SECRET = /([?&](?:key|api[_-]?key|access[_-]?token|token|auth)=)[^&\s"#]+/gi;

/** Scrub credentials out of free text. */
export function redactText(s: string): string {
  let out = s.replace(HEADER_LINE, (m, name: string, sep: string, value: string) => value.startsWith('[REDACTED') ? m : `${name}${sep}${REDACTED}`);
  for (const re of KEY_SHAPES) out = out.replace(re, REDACTED);
  out = out.replace(QUERY_SECRET, (_m, pre: string) => `${pre}${REDACTED}`);
  return out;
}

function redactHeaders(h: unknown): unknown {
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return h;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h as Record<string, unknown>)) {
    // as-http's "[REDACTED sha256:…]" keeps a fingerprint that groups calls by key: keep it.
    out[k] = SECRET_HEADERS.has(k.toLowerCase()) && !(typeof v === 'string' && v.startsWith('[REDACTED')) ? REDACTED : v;
  }
  return out;
}

function redactDeep(v: unknown): unknown {
  if (typeof v === 'string') return redactText(v);
  if (Array.isArray(v)) return v.map(redactDeep);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = k === 'headers' ? redactDeep(redactHeaders(x)) : redactDeep(x);
    }
    return out;
  }
  return v;
}

/**
 * Return a copy of `ev` with credentials replaced by "[REDACTED]". Base64 payloads are
 * decoded as latin1 (byte-preserving), scrubbed, and re-encoded, so binary data keeps its
 * bytes while an Authorization line inside it does not survive.
 */
export function redactEvent(ev: AgentEvent): AgentEvent {
  const e = ev as unknown as Record<string, unknown>;
  if (typeof e.data === 'string' && e.enc === 'base64') {
    const raw = Buffer.from(e.data, 'base64').toString('latin1');
    const clean = redactText(raw);
    const copy = redactDeep({ ...e, data: '' }) as Record<string, unknown>;
    copy.data = clean === raw ? e.data : Buffer.from(clean, 'latin1').toString('base64');
    return copy as unknown as AgentEvent;
  }
  return redactDeep(e) as AgentEvent;
}

// One cheap scan of the serialised event decides whether the full walk is needed; almost
// every event (opens, metrics, deltas) has nothing to scrub and skips it.
const MAYBE = /authorization|api[-_]?key|cookie|auth-token|security-token|sk-|AIza|gh[pousr]_|xox[abprs]-|AKIA|bearer|[?&](?:key|token|auth|access)/i;

/** Redact and serialise: the JSON text stored for an event, and the event it encodes. */
export function redactForStore(ev: AgentEvent): { json: string; ev: AgentEvent } {
  const json = JSON.stringify(ev);
  const e = ev as unknown as Record<string, unknown>;
  if (!(e.enc === 'base64' && typeof e.data === 'string') && !MAYBE.test(json)) return { json, ev };
  const clean = redactEvent(ev);
  return { json: JSON.stringify(clean), ev: clean };
}
