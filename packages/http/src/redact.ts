import { createHash } from 'node:crypto';

// Captures are shared and stored; API keys in them would be a leak. A short hash of the
// secret is kept so that calls made with the same key can still be grouped.

export const SECRET_HEADERS: ReadonlySet<string> = new Set([
  'authorization', 'proxy-authorization', 'x-api-key', 'x-goog-api-key', 'api-key',
  'cookie', 'set-cookie', 'x-auth-token', 'x-amz-security-token', 'openai-api-key',
]);

// Query parameter names that carry credentials (Gemini's `key=`, signed URLs, OAuth).
const SECRET_PARAMS = /^(?:key|api[-_]?key|apikey|token|access[-_]?token|id[-_]?token|refresh[-_]?token|auth|secret|client[-_]?secret|password|passwd|sig|signature|x-amz-signature|x-goog-signature|code)$/i;

export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}

export function redacted(secret: string): string {
  return `[REDACTED sha256:${fingerprint(secret)}]`;
}

/** Redact secret headers in place; returns the same object. */
export function redactHeaders(h: Record<string, string>): Record<string, string> {
  for (const k of Object.keys(h)) {
    if (!SECRET_HEADERS.has(k)) continue;
    // set-cookie is joined with "\n": keep one fingerprint per cookie.
    h[k] = k === 'set-cookie' ? h[k]!.split('\n').map(redacted).join('\n') : redacted(h[k]!);
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
    try { name = decodeURIComponent(p.slice(0, eq).replace(/\+/g, ' ')); } catch { name = p.slice(0, eq); }
    if (!SECRET_PARAMS.test(name)) return p;
    changed = true;
    // Hash the decoded value so that the same key sent in a header fingerprints the same.
    let value: string;
    try { value = decodeURIComponent(p.slice(eq + 1).replace(/\+/g, ' ')); } catch { value = p.slice(eq + 1); }
    return `${p.slice(0, eq)}=[REDACTED+sha256:${fingerprint(value)}]`;
  });
  if (!changed) return target;
  return target.slice(0, q + 1) + parts.join('&') + (hashAt < 0 ? '' : target.slice(hashAt));
}
