/**
 * A minimal HTTP/1.1 request parser. The mock owns its sockets instead of using
 * node:http because it must write recorded responses byte for byte, cut connections
 * mid-body and control every chunk boundary, none of which node:http allows.
 */

export interface RawRequest {
  method: string;
  target: string;
  version: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Whether the client expects the connection to stay open after the response. */
  keepAlive: boolean;
}

export type ParseResult =
  | { kind: 'request'; req: RawRequest; used: number }
  | { kind: 'incomplete'; expectContinue: boolean }
  | { kind: 'error'; status: number; message: string };

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 64 * 1024 * 1024;

function decodeChunked(buf: Buffer, start: number): { body: Buffer; end: number } | null | 'bad' {
  const parts: Buffer[] = [];
  let pos = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) return 'bad';
    pos = eol + 2;
    if (size === 0) {
      // Trailers, then an empty line.
      for (;;) {
        const e = buf.indexOf('\r\n', pos);
        if (e < 0) return null;
        const empty = e === pos;
        pos = e + 2;
        if (empty) return { body: Buffer.concat(parts), end: pos };
      }
    }
    if (buf.length < pos + size + 2) return null;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

export function parseRequest(buf: Buffer): ParseResult {
  // Tolerate stray CRLFs between pipelined requests (RFC 9112 §2.2).
  let start = 0;
  while (buf.length >= start + 2 && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  const headEnd = buf.indexOf('\r\n\r\n', start);
  if (headEnd < 0) {
    if (buf.length - start > MAX_HEAD) return { kind: 'error', status: 431, message: 'request header too large' };
    return { kind: 'incomplete', expectContinue: false };
  }
  const lines = buf.subarray(start, headEnd).toString('latin1').split('\r\n');
  const m = /^([A-Z]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0] ?? '');
  if (!m) return { kind: 'error', status: 400, message: 'bad request line' };
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c <= 0) return { kind: 'error', status: 400, message: 'bad header line' };
    const name = line.slice(0, c).trim().toLowerCase();
    const value = line.slice(c + 1).trim();
    headers[name] = headers[name] !== undefined ? `${headers[name]}, ${value}` : value;
  }
  const version = m[3]!;
  const conn = (headers.connection ?? '').toLowerCase();
  const keepAlive = version === '1.1' ? !/\bclose\b/.test(conn) : /\bkeep-alive\b/.test(conn);
  const bodyStart = headEnd + 4;
  const expectContinue = /100-continue/i.test(headers.expect ?? '');
  let body: Buffer;
  let used: number;
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    const d = decodeChunked(buf, bodyStart);
    if (d === 'bad') return { kind: 'error', status: 400, message: 'bad chunked body' };
    if (d === null)
      return buf.length - bodyStart > MAX_BODY
        ? { kind: 'error', status: 413, message: 'body too large' }
        : { kind: 'incomplete', expectContinue };
    body = d.body;
    used = d.end;
  } else {
    const len = headers['content-length'] !== undefined ? Number(headers['content-length']) : 0;
    if (!Number.isInteger(len) || len < 0) return { kind: 'error', status: 400, message: 'bad content-length' };
    if (len > MAX_BODY) return { kind: 'error', status: 413, message: 'body too large' };
    if (buf.length < bodyStart + len) return { kind: 'incomplete', expectContinue };
    body = buf.subarray(bodyStart, bodyStart + len);
    used = bodyStart + len;
  }
  return {
    kind: 'request',
    req: { method: m[1]!, target: m[2]!, version, headers, body: Buffer.from(body), keepAlive },
    used,
  };
}

/** What a recorded response says about its own framing: can the connection be reused after it? */
export function responseKeepsAlive(raw: Buffer): boolean {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd < 0) return false;
  const head = raw.subarray(0, headEnd).toString('latin1').toLowerCase();
  if (/^connection:\s*close/m.test(head)) return false;
  if (/^http\/1\.0/.test(head) && !/^connection:\s*keep-alive/m.test(head)) return false;
  return /^content-length:/m.test(head) || /^transfer-encoding:.*chunked/m.test(head);
}
