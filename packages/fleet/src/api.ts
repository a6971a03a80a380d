// as-serve's API paths answered from ClickHouse (as-serve --clickhouse): /api/hosts,
// /api/events and /api/calls, with `host` (repeatable, or comma-separated) as the filter.
// The other paths stay with as-serve's own store. Parameters as in as-serve's API.
import type { FleetFilter, FleetQueries } from './query.js';

export type FleetResponse = { status: number; body: unknown };

class ParamError extends Error {}

function list(sp: URLSearchParams, name: string): string[] | undefined {
  const all = sp
    .getAll(name)
    .flatMap((v) => v.split(','))
    .filter(Boolean);
  return all.length ? all : undefined;
}

function num(sp: URLSearchParams, name: string): number | undefined {
  const v = sp.get(name);
  if (v === null || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  // Times may be ISO 8601, as in as-serve.
  const t = Date.parse(v);
  if ((name === 'from' || name === 'to') && !Number.isNaN(t)) return t * 1000;
  throw new ParamError(
    `${name}: want a non-negative integer${name === 'from' || name === 'to' ? ' or an ISO 8601 time' : ''}`,
  );
}

function filter(sp: URLSearchParams): FleetFilter {
  const order = sp.get('order') ?? undefined;
  if (order && order !== 'asc' && order !== 'desc') throw new ParamError('order: want asc or desc');
  return {
    hosts: list(sp, 'host'),
    src: list(sp, 'src'),
    type: list(sp, 'type'),
    pid: num(sp, 'pid'),
    from: num(sp, 'from'),
    to: num(sp, 'to'),
    q: sp.get('q') || undefined,
    limit: num(sp, 'limit'),
    cursor: sp.get('cursor') || undefined,
    order: order as FleetFilter['order'],
  };
}

/** The handler for as-serve's `remote` option: undefined for the paths it leaves to the local store. */
export function fleetApi(fq: FleetQueries): (path: string, sp: URLSearchParams) => Promise<FleetResponse> | undefined {
  const wrap = async (f: () => Promise<unknown>): Promise<FleetResponse> => {
    try {
      return { status: 200, body: await f() };
    } catch (e) {
      if (e instanceof ParamError || /^cursor:|: want a non-negative integer$/.test((e as Error).message))
        return { status: 400, body: { error: (e as Error).message } };
      throw e;
    }
  };
  return (path, sp) => {
    if (path === '/api/hosts') return wrap(() => fq.hosts().then((hosts) => ({ hosts })));
    if (path === '/api/events') return wrap(() => fq.events(filter(sp)));
    if (path === '/api/calls') return wrap(() => fq.calls(filter(sp)));
    return undefined;
  };
}
