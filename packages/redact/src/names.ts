// Where credentials sit by name: HTTP headers, URL query parameters, JSON fields and
// environment-style assignments. The one table every stage reads (as-http, as-serve's store,
// as-otel's export); the values' own shapes are in patterns.ts.

/** Header names (lower case) whose value is a credential. */
export const SECRET_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'openai-api-key',
  'anthropic-api-key',
  'cookie',
  'set-cookie',
  'x-auth-token',
  'x-amz-security-token',
]);

// Query parameter names that carry credentials (Gemini's `key=`, signed URLs, OAuth).
const SECRET_PARAMS =
  /^(?:key|api[-_]?key|apikey|token|access[-_]?token|id[-_]?token|refresh[-_]?token|auth|secret|client[-_]?secret|password|passwd|sig|signature|x-amz-signature|x-goog-signature|code)$/i;

/** Is this URL query parameter a credential? */
export function isSecretParam(name: string): boolean {
  return SECRET_PARAMS.test(name);
}

// JSON field names whose string value is a credential: `"api_key": "tvly-…"` in a search
// tool's request, `"apiKey"`, `"client_secret"`. Bare "key" and "token" are left out: in
// LLM traffic they are ordinary fields (a computer-use key press, a logprob's token).
// Header names count too: a header object serialised as JSON is found the same way.
const FIELD =
  String.raw`(?:x-)?api[-_]?key|apikey|access[-_]?token|refresh[-_]?token|id[-_]?token|auth[-_]?token|session[-_]?token|bearer[-_]?token|secret[-_]?key|private[-_]?key|client[-_]?secret|secret|password|passwd|` +
  [...SECRET_HEADERS].join('|');
const FIELD_RE = new RegExp(`^(?:${FIELD})$`, 'i');

/** Is this JSON field name a credential's? */
export function isSecretField(name: string): boolean {
  return FIELD_RE.test(name);
}

/**
 * In text, `"name": "value"` for a secret field name, also when the JSON is itself inside
 * a JSON string (`\"api_key\": \"…\"`). Group 1 is everything before the value, 2 the value.
 */
export const JSON_FIELD_TEXT = new RegExp(String.raw`(\\?"(?:${FIELD})\\?"\s*:\s*\\?")((?:[^"\\]|\\[^"\\])+)`, 'gi');

/**
 * `Name: value` header lines inside raw HTTP text (ssl/stdio payloads, a curl command line),
 * and `NAME=value` assignments of key-like environment variables (OPENAI_API_KEY=…, a
 * TAVILY_API_KEY echoed by a tool). Group 1 is the name and separator, 2 the value.
 */
export const HEADER_LINE_TEXT = new RegExp(
  String.raw`\b((?:${[...SECRET_HEADERS].join('|')})\s*:[ \t]*)([^\r\n"\\]+)`,
  'gi',
);
export const ENV_ASSIGN_TEXT = /\b([A-Z0-9_]*(?:API_?KEY|_TOKEN|SECRET|PASSWORD|PASSWD)[A-Z0-9_]*=)([^\s'"\\&]+)/g;
// ?key=…, &api_key=…, &access_token=… inside text (a URL in a log line or a command).
export const QUERY_TEXT =
  /([?&](?:key|api[_-]?key|apikey|access[_-]?token|token|auth|secret|client[_-]?secret|password)=)([^&\s"'#\\]+)/gi;
