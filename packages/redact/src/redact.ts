import { createHash } from 'node:crypto';
import type { AgentEvent } from '@agentsight/events';
import {
  ENV_ASSIGN_TEXT,
  HEADER_LINE_TEXT,
  isSecretField,
  isSecretParam,
  JSON_FIELD_TEXT,
  QUERY_TEXT,
  SECRET_HEADERS,
} from './names.js';
import { mayHoldProviderKey, type Range, secretRanges } from './patterns.js';

// Captures are shared and stored; API keys in them would be a leak. A short hash of the
// secret is kept so that calls made with the same key can still be grouped.

export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}

/** What a secret becomes: `[REDACTED sha256:0a1b2c3d]`. */
export function redacted(secret: string): string {
  return `[REDACTED sha256:${fingerprint(secret)}]`;
}

const isRedacted = (v: string) => v.startsWith('[REDACTED');

/** Redact secret headers (lower-case names) in place; returns the same object. */
export function redactHeaders(h: Record<string, string>): Record<string, string> {
  for (const k of Object.keys(h)) {
    const v = h[k]!;
    if (!SECRET_HEADERS.has(k) || isRedacted(v)) continue;
    // set-cookie is joined with "\n": keep one fingerprint per cookie.
    h[k] = k === 'set-cookie' ? v.split('\n').map(redacted).join('\n') : redacted(v);
  }
  return h;
}

/**
 * Redact credential-like query parameters of a request target. The replacement keeps
 * the target a valid URL ("+" is a space in a query), so consumers can still parse it.
 */
export function redactTarget(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const hashAt = target.indexOf('#', q);
  const query = target.slice(q + 1, hashAt < 0 ? undefined : hashAt);
  let changed = false;
  const parts = query.split('&').map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) return p;
    let name: string;
    try {
      name = decodeURIComponent(p.slice(0, eq).replace(/\+/g, ' '));
    } catch {
      name = p.slice(0, eq);
    }
    if (!isSecretParam(name) || p.startsWith('[REDACTED', eq + 1)) return p;
    changed = true;
    // Hash the decoded value so that the same key sent in a header fingerprints the same.
    let value: string;
    try {
      value = decodeURIComponent(p.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      value = p.slice(eq + 1);
    }
    return `${p.slice(0, eq)}=[REDACTED+sha256:${fingerprint(value)}]`;
  });
  if (!changed) return target;
  return target.slice(0, q + 1) + parts.join('&') + (hashAt < 0 ? '' : target.slice(hashAt));
}

// No key shape fits in a text without one of these: a token-like run of 16 or more
// characters with a digit and a letter in it (random keys of that length without a digit are
// rarer than one in a thousand; a run of digits alone is a timestamp), a PEM block, or
// credentials in a URL. Most texts (SSE deltas, short tool
// output) skip the preset's rules after this one test.
const RUN = /[A-Za-z0-9+/=_.-]{16,}/g;
const URL_CREDENTIALS = /:\/\/[^\s/@]*@/;
function maybeShape(text: string): boolean {
  RUN.lastIndex = 0;
  for (let m = RUN.exec(text); m; m = RUN.exec(text)) if (/\d/.test(m[0]) && /[A-Za-z]/.test(m[0])) return true;
  return text.includes('-----BEGIN') || URL_CREDENTIALS.test(text);
}
// And no secret name without one of these words.
const MAYBE_NAME = /key|token|secret|passw|auth|cookie/i;

function nameRanges(text: string, out: Range[]): void {
  for (const re of [JSON_FIELD_TEXT, HEADER_LINE_TEXT, ENV_ASSIGN_TEXT, QUERY_TEXT]) {
    for (const m of text.matchAll(re)) {
      const start = m.index + m[1]!.length;
      if (!text.startsWith('[REDACTED', start)) out.push([start, start + m[2]!.length]);
    }
  }
}

/** Is text[i] the character after an (unescaped) backslash? */
function escaped(text: string, i: number): boolean {
  let n = 0;
  while (i - n - 1 >= 0 && text[i - n - 1] === '\\') n++;
  return n % 2 === 1;
}

/**
 * Replace every secret in `text` (by name: a secret header line, JSON field, query
 * parameter or KEY=value; by shape: the preset's patterns and the providers' key shapes)
 * with its fingerprint. A replacement never crosses a `"` or ends in a `\`, so JSON text
 * stays JSON. `preset: false` leaves out the preset's rules (names and provider shapes only):
 * for the many small messages of a stream, whose text is scanned whole again once merged.
 */
export function redactText(text: string, opts: { preset?: boolean } = {}): string {
  // Without the preset only the provider shapes are looked for: their literals are the test.
  const shapes = opts.preset === false ? mayHoldProviderKey(text) : maybeShape(text);
  const names = MAYBE_NAME.test(text);
  if (!shapes && !names) return text;
  const ranges = shapes ? secretRanges(text, opts) : [];
  if (names) nameRanges(text, ranges);
  if (!ranges.length) return text;
  ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let out = '';
  let at = 0;
  for (let [s, e] of ranges) {
    if (s < at) s = at;
    // Never start inside a JSON escape (`\n`, `\u0041`): the text must stay JSON.
    if (escaped(text, s)) s += text[s] === 'u' ? 5 : 1;
    const quote = text.indexOf('"', s);
    if (quote >= 0 && quote < e) e = quote;
    while (e > s && text[e - 1] === '\\') e--;
    if (e <= s || text.startsWith('[REDACTED', s)) continue;
    out += text.slice(at, s) + redacted(text.slice(s, e));
    at = e;
  }
  return at === 0 ? text : out + text.slice(at);
}

const SMALL_SSE = 512;

/**
 * Redact an `http` event as as-http makes it, in place: secret headers and trailers,
 * query parameters of the path, and the body, SSE data or WebSocket message by name and
 * shape. `body_size` and `size` still tell the size on the wire.
 */
export function redactHttp<E extends AgentEvent>(ev: E): E {
  const e = ev as unknown as Record<string, unknown>;
  if (e.headers) redactHeaders(e.headers as Record<string, string>);
  if (e.trailers) redactHeaders(e.trailers as Record<string, string>);
  if (typeof e.path === 'string') e.path = redactTarget(e.path);
  if (typeof e.data === 'string' && e.data.length) {
    if (e.enc === 'base64') {
      const raw = Buffer.from(e.data, 'base64').toString('latin1');
      const clean = redactText(raw);
      if (clean !== raw) e.data = Buffer.from(clean, 'latin1').toString('base64');
    } else {
      // An SSE message is one of hundreds in a response: small ones get the cheap checks.
      e.data = redactText(e.data, { preset: e.type !== 'sse' || e.data.length >= SMALL_SSE });
    }
  }
  return ev;
}

/** A copy of a parsed JSON value with secret fields and secret-shaped strings redacted. */
export function redactValue(v: unknown, key?: string): unknown {
  if (typeof v === 'string') {
    if (key !== undefined && v !== '' && !isRedacted(v) && isSecretField(key))
      return key === 'set-cookie' ? v.split('\n').map(redacted).join('\n') : redacted(v);
    return redactText(v);
  }
  if (Array.isArray(v)) return v.map((x) => redactValue(x));
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = redactValue(x, k);
    return out;
  }
  return v;
}

/**
 * A copy of `ev` with every secret replaced by its fingerprint: header objects, secret
 * fields, secret-shaped strings anywhere. Base64 payloads are decoded as latin1
 * (byte-preserving), scrubbed and re-encoded, so binary data keeps its bytes while an
 * Authorization line inside it does not survive.
 */
export function redactEvent(ev: AgentEvent): AgentEvent {
  const e = ev as unknown as Record<string, unknown>;
  if (typeof e.data === 'string' && e.enc === 'base64') {
    const raw = Buffer.from(e.data, 'base64').toString('latin1');
    const clean = redactText(raw);
    const copy = redactValue({ ...e, data: '' }) as Record<string, unknown>;
    copy.data = clean === raw ? e.data : Buffer.from(clean, 'latin1').toString('base64');
    return copy as unknown as AgentEvent;
  }
  return redactValue(e) as AgentEvent;
}

/**
 * Redact and serialise: the JSON text stored or exported for an event, and the event it
 * encodes. The serialised text is scanned once (names and shapes work on JSON text as they
 * do on a body), and parsed back only when something was replaced.
 */
export function redactForStore(ev: AgentEvent): { json: string; ev: AgentEvent } {
  const e = ev as unknown as Record<string, unknown>;
  if (e.enc === 'base64' && typeof e.data === 'string') {
    const clean = redactEvent(ev);
    return { json: JSON.stringify(clean), ev: clean };
  }
  const flat = redactFlat(e);
  if (flat) return flat;
  const json = JSON.stringify(ev);
  const clean = redactText(json);
  if (clean === json) return { json, ev };
  try {
    return { json: clean, ev: JSON.parse(clean) as AgentEvent };
  } catch {
    // Cannot happen by construction (see redactText); if it did, the walk is the safe answer.
    const walked = redactEvent(ev);
    return { json: JSON.stringify(walked), ev: walked };
  }
}

/** Texts redactFlat has scanned and what they became: a capture opens the same paths over and over. */
const seen = new Map<string, string>();
const SEEN_MAX = 20_000;
const SEEN_TEXT_MAX = 1024;

function redactCached(v: string): string {
  if (v.length > SEEN_TEXT_MAX) return redactText(v);
  let out = seen.get(v);
  if (out === undefined) {
    out = redactText(v);
    if (seen.size >= SEEN_MAX) seen.delete(seen.keys().next().value as string);
    seen.set(v, out);
  }
  return out;
}

/**
 * An event whose fields are all strings, numbers or booleans (the process events that make
 * up most of a capture), redacted field by field as redactValue does, each string's result
 * remembered: a path with a digit in it looks like it may hold a key and costs a scan by
 * every preset rule, once per distinct path instead of once per open. Undefined for any
 * other event.
 */
function redactFlat(e: Record<string, unknown>): { json: string; ev: AgentEvent } | undefined {
  let copy: Record<string, unknown> | undefined;
  for (const k in e) {
    const v = e[k];
    if (typeof v === 'string') {
      const clean =
        v !== '' && !isRedacted(v) && isSecretField(k)
          ? k === 'set-cookie'
            ? v.split('\n').map(redacted).join('\n')
            : redacted(v)
          : redactCached(v);
      if (clean !== v) (copy ??= { ...e })[k] = clean;
    } else if (v !== null && typeof v === 'object') return undefined;
  }
  const ev = (copy ?? e) as unknown as AgentEvent;
  return { json: JSON.stringify(ev), ev };
}
