import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { BadRequest, parseParams } from './params.js';
import { Queries } from './query.js';
import { SessionQueries } from './sessions.js';
import type { Store } from './store.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Required for a non-loopback host; then every request must present it. */
  token?: string;
  /** Directory with index.html and the bundle (packages/ui/dist). */
  assets?: string;
  log?: (msg: string) => void;
  /**
   * Another store that answers some API paths first (as-serve --clickhouse: the fleet's events
   * and calls over ClickHouse); undefined for a path leaves it to the local store.
   */
  remote?: RemoteApi;
}

export type RemoteApi = (path: string, sp: URLSearchParams) => Promise<{ status: number; body: unknown }> | undefined;

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const h = host.replace(/^\[|\]$/g, '');
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./i.test(h);
  return false;
}

/** Thrown for a configuration the server refuses to start with. */
export class ServeConfigError extends Error {}

export function checkBind(host: string, token: string | undefined): void {
  if (!isLoopback(host) && !token) {
    throw new ServeConfigError(
      `refusing to listen on non-loopback host ${host} without --token: captures hold prompts, code and tool output`,
    );
  }
  if (token !== undefined && token.length < 8) throw new ServeConfigError('--token: use at least 8 characters');
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.map': 'application/json',
  '.ico': 'image/x-icon',
};

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Captured text is rendered as text; nothing the agent said can load or run code here.
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function tokenFrom(req: http.IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  const q = url.searchParams.get('token');
  if (q) return q;
  const m = /(?:^|;\s*)as_token=([^;]+)/.exec(req.headers.cookie ?? '');
  return m ? decodeURIComponent(m[1]!) : undefined;
}

export interface Server {
  http: http.Server;
  url: string;
  close(): Promise<void>;
}

/** Serve the UI and the JSON API over the store. Resolves once listening. */
export async function serve(store: Store, opts: ServeOptions): Promise<Server> {
  checkBind(opts.host, opts.token);
  const q = new Queries(store);
  const sq = new SessionQueries(q);
  const want = opts.token ? digest(opts.token) : undefined;
  const assets = loadAssets(opts.assets);
  const live = new Set<http.ServerResponse>();

  const unsubscribe = store.onCommit((lastId) => {
    const msg = `event: commit\ndata: ${JSON.stringify({ last_id: lastId })}\n\n`;
    for (const res of live) res.write(msg);
  });
  const heartbeat = setInterval(() => {
    for (const res of live) res.write(': keepalive\n\n');
  }, 15000);
  heartbeat.unref();

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(text);
  };

  const server = http.createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      return send(res, 400, { error: 'bad request URL' });
    }
    if (!opts.token) {
      // Loopback without a token: refuse other Host names so that a web page the user
      // visits cannot reach this server through DNS rebinding.
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      if (!isLoopback(host) && host !== opts.host) return send(res, 403, { error: `Host '${host}' not allowed` });
    } else {
      const got = tokenFrom(req, url);
      if (!got || !timingSafeEqual(digest(got), want!)) {
        return send(
          res,
          401,
          { error: 'token required: open the URL printed by as-serve, or send Authorization: Bearer TOKEN' },
          { 'www-authenticate': 'Bearer' },
        );
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, { error: 'read-only API: GET only' }, { allow: 'GET, HEAD' });
    const cookie =
      opts.token && url.searchParams.get('token')
        ? { 'set-cookie': `as_token=${encodeURIComponent(opts.token)}; HttpOnly; SameSite=Strict; Path=/` }
        : undefined;
    try {
      if (url.pathname.startsWith('/api/')) return api(url, req, res);
      return staticFile(url.pathname, res, cookie);
    } catch (e) {
      if (e instanceof BadRequest) return send(res, 400, { error: e.message });
      opts.log?.(`${req.url}: ${(e as Error).stack ?? e}`);
      return send(res, 500, { error: (e as Error).message });
    }
  });

  function api(url: URL, req: http.IncomingMessage, res: http.ServerResponse): void {
    const sp = url.searchParams;
    const p = url.pathname;
    const remote = opts.remote?.(p, sp);
    if (remote) {
      remote.then(
        (r) => send(res, r.status, r.body),
        (e: Error) => {
          opts.log?.(`${req.url}: ${e.message}`);
          send(res, 502, { error: e.message });
        },
      );
      return;
    }
    let m: RegExpExecArray | null;
    if (p === '/api/stats') return send(res, 200, q.stats(sp));
    if (p === '/api/events') return send(res, 200, q.events(sp));
    if ((m = /^\/api\/events\/(\d+)$/.exec(p))) {
      parseParams(sp, {});
      const ev = q.event(Number(m[1]));
      return ev ? send(res, 200, ev) : send(res, 404, { error: `no event ${m[1]}` });
    }
    if (p === '/api/calls') return send(res, 200, q.calls(sp));
    if ((m = /^\/api\/calls\/(.+)$/.exec(p))) {
      const pp = parseParams(sp, { full: 'uint' });
      const id = decodeURIComponent(m[1]!);
      const c = q.call(id, pp.full === undefined || pp.full !== 0);
      return c ? send(res, 200, c) : send(res, 404, { error: `no call ${id}` });
    }
    if (p === '/api/sessions') return send(res, 200, sq.list(sp));
    if ((m = /^\/api\/sessions\/(.+)$/.exec(p))) {
      const id = decodeURIComponent(m[1]!);
      const d = sq.detail(id, sp);
      return d ? send(res, 200, d) : send(res, 404, { error: `no session ${id}` });
    }
    if (p === '/api/overview') return send(res, 200, sq.overview(sp));
    if (p === '/api/runs') return send(res, 200, sq.runs(sp));
    if (p === '/api/processes') return send(res, 200, q.processes(sp));
    if ((m = /^\/api\/processes\/(\d+)$/.exec(p))) {
      parseParams(sp, {});
      const pr = q.process(Number(m[1]));
      return pr ? send(res, 200, pr) : send(res, 404, { error: `no process row ${m[1]}` });
    }
    if (p === '/api/timeline') return send(res, 200, q.timeline(sp));
    if (p === '/api/metrics') return send(res, 200, q.metrics(sp));
    if (p === '/api/live') {
      parseParams(sp, {});
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify({ last_id: store.lastId })}\n\n`);
      live.add(res);
      req.on('close', () => live.delete(res));
      return;
    }
    return send(res, 404, { error: `no such endpoint ${p}` });
  }

  function staticFile(pathname: string, res: http.ServerResponse, extra?: Record<string, string>): void {
    if (!assets) {
      res.writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'text/plain' });
      res.end('as-serve: the UI is not built (run `make build`); the JSON API is at /api/\n');
      return;
    }
    // Only files that were in the asset directory at start-up: no path from the URL reaches the filesystem.
    const f = assets.get(pathname) ?? (path.extname(pathname) ? undefined : assets.get('/index.html'));
    if (!f) return send(res, 404, { error: 'not found' });
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      ...extra,
      'content-type': f.type,
      'cache-control': pathname.startsWith('/assets/') ? 'max-age=3600' : 'no-cache',
    });
    res.end(f.body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    http: server,
    url: `http://${hostPart}:${addr.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe();
        clearInterval(heartbeat);
        for (const res of live) res.end();
        live.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function loadAssets(dir: string | undefined): Map<string, { body: Buffer; type: string }> | undefined {
  if (!dir || !fs.existsSync(path.join(dir, 'index.html'))) return undefined;
  const out = new Map<string, { body: Buffer; type: string }>();
  const walk = (d: string, prefix: string) => {
    for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, ent.name);
      if (ent.isDirectory()) walk(full, `${prefix}${ent.name}/`);
      else
        out.set(`${prefix}${ent.name}`, {
          body: fs.readFileSync(full),
          type: MIME[path.extname(ent.name)] ?? 'application/octet-stream',
        });
    }
  };
  walk(dir, '/');
  return out;
}

/** Where the built UI lives: packages/ui/dist next to this package. */
export function defaultAssetsDir(): string {
  return path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../ui/dist');
}
