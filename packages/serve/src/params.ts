/** A request the API refuses, with the message the client sees (HTTP 400). */
export class BadRequest extends Error {
  override name = 'BadRequest';
  readonly status = 400;
}

export type ParamKind = 'int' | 'uint' | 'str' | 'list' | 'time' | 'order' | 'cursor';

const SOURCES = new Set(['ssl', 'proc', 'stdio', 'http', 'llm', 'mcp', 'trace', 'meta']);

/**
 * Parse query parameters against what an endpoint accepts. Unknown names are refused
 * rather than ignored: a misspelt filter silently matching everything is worse than a 400.
 */
export function parseParams<K extends string>(
  sp: URLSearchParams,
  spec: Record<K, ParamKind>,
): Partial<Record<K, unknown>> {
  const out: Partial<Record<K, unknown>> = {};
  for (const name of new Set(sp.keys())) {
    if (name === 'token') continue;
    if (!(name in spec))
      throw new BadRequest(`unknown parameter '${name}' (accepted: ${Object.keys(spec).join(', ')})`);
    const all = sp.getAll(name);
    if (all.length > 1) throw new BadRequest(`parameter '${name}' given ${all.length} times`);
    const raw = all[0]!;
    const kind = spec[name as K];
    out[name as K] = parseOne(name, raw, kind);
  }
  return out;
}

function parseOne(name: string, raw: string, kind: ParamKind): unknown {
  switch (kind) {
    case 'int':
    case 'uint': {
      if (!/^-?\d{1,16}$/.test(raw)) throw new BadRequest(`${name}: want an integer, got '${raw.slice(0, 40)}'`);
      const n = Number(raw);
      if (kind === 'uint' && n < 0) throw new BadRequest(`${name}: want a non-negative integer`);
      return n;
    }
    case 'str':
      if (raw.length > 1000) throw new BadRequest(`${name}: longer than 1000 characters`);
      return raw;
    case 'list': {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (!items.length) throw new BadRequest(`${name}: empty list`);
      if (items.some((s) => !/^[a-z0-9_./-]{1,40}$/i.test(s)))
        throw new BadRequest(`${name}: want comma-separated names`);
      if (name === 'src')
        for (const s of items)
          if (!SOURCES.has(s)) throw new BadRequest(`src: unknown source '${s}' (one of ${[...SOURCES].join(', ')})`);
      return items;
    }
    case 'time': {
      // µs since the epoch, or an ISO 8601 date, so a URL can be written by hand.
      if (/^\d{1,17}$/.test(raw)) return Number(raw);
      const ms = Date.parse(raw);
      if (!/^\d{4}-\d\d-\d\d/.test(raw) || Number.isNaN(ms))
        throw new BadRequest(
          `${name}: want microseconds since the epoch or an ISO 8601 time, got '${raw.slice(0, 40)}'`,
        );
      return ms * 1000;
    }
    case 'order':
      if (raw !== 'asc' && raw !== 'desc') throw new BadRequest(`${name}: want 'asc' or 'desc'`);
      return raw;
    case 'cursor': {
      const m = /^(\d{1,17})\.(\d{1,16})$/.exec(raw);
      if (!m) throw new BadRequest(`${name}: not a cursor from a previous page`);
      return [Number(m[1]), Number(m[2])];
    }
  }
}

export function limitOf(v: unknown, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  const n = v as number;
  if (n < 1 || n > max) throw new BadRequest(`limit: want 1..${max}, got ${n}`);
  return n;
}

export function rangeOf(p: { from?: unknown; to?: unknown }): { from?: number; to?: number } {
  const from = p.from as number | undefined;
  const to = p.to as number | undefined;
  if (from !== undefined && to !== undefined && from > to) throw new BadRequest('from: after to');
  return { from, to };
}
