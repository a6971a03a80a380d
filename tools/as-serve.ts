#!/usr/bin/env node
import fs from 'node:fs';
import { EXIT, runTool, ToolError } from '@agentsight/cli';
import type { AgentEvent } from '@agentsight/events';
import { type FleetQueries, fleetApi, openFleet } from '@agentsight/fleet';
import { loadPrices, type PriceTable } from '@agentsight/llm';
import {
  checkBind,
  defaultAssetsDir,
  expandRotated,
  ingestFile,
  ingestStream,
  ServeConfigError,
  Store,
  serve,
} from '@agentsight/serve';
import { CorrelateStage } from '@agentsight/trace';

interface Args {
  p?: string;
  host: string;
  port: number;
  db: string;
  token?: string;
  rotated: boolean;
  correlate: boolean;
  assets?: string;
  prices?: string;
  clickhouse?: string;
  'clickhouse-table'?: string;
}

await runTool<Args>(
  {
    name: 'as-serve',
    summary: 'store agentsight events and serve the web UI and JSON API',
    usage: 'as-serve [options] [FILE.ndjson[.gz] ...]   (no FILE and stdin not a terminal: read stdin live)',
    readsEvents: true,
    examples: [
      ['as-sslsniff | as-http | as-merge | as-serve', 'watch a live capture at http://127.0.0.1:7395'],
      [
        'as-serve --db run.db capture.ndjson',
        'load a capture (and capture.ndjson.1 … rotated before it), then serve it',
      ],
      [
        'AS_SERVE_TOKEN=$(openssl rand -hex 16) as-serve --host 0.0.0.0',
        'serve on the network; every request needs the token',
      ],
    ],
    options: (y) =>
      y
        .option('host', {
          type: 'string',
          default: '127.0.0.1',
          describe: 'Address to listen on; a non-loopback address needs --token',
        })
        .option('port', { type: 'number', default: 7395, describe: 'TCP port (0: any free port)' })
        // -p is a pid in every other tool: here it is refused with a pointer, never taken as a port.
        .option('p', { type: 'string', hidden: true })
        .option('db', {
          type: 'string',
          default: 'agentsight.db',
          describe: 'SQLite store (created 0600; kept across runs, files already stored are skipped)',
        })
        .option('token', {
          type: 'string',
          describe: 'Require this token (Bearer header, ?token= or cookie); default $AS_SERVE_TOKEN',
        })
        .option('rotated', {
          type: 'boolean',
          default: true,
          describe: 'Also load FILE.1 … FILE.N(.gz) rotated before each FILE (--no-rotated: not)',
        })
        .option('correlate', {
          type: 'boolean',
          default: false,
          describe:
            'Link tool calls to the processes they ran (as as-merge --correlate does) while storing; for input that was not correlated',
        })
        .option('prices', {
          type: 'string',
          describe:
            'JSON price table (USD per 1M tokens by model prefix) whose rows win over the built-in genai-prices dataset, for the costs stored (default $AGENTSIGHT_PRICES)',
        })
        .option('clickhouse', {
          type: 'string',
          describe:
            'Also read from this ClickHouse (HTTP URL) that as-clickhouse ships many hosts to: /api/hosts, /api/events and /api/calls come from it, with ?host= as a filter',
        })
        .option('clickhouse-table', {
          type: 'string',
          describe: 'Table in that ClickHouse (default agentsight_events)',
        })
        .option('assets', {
          type: 'string',
          hidden: true,
          describe: 'Directory of the built UI (default packages/ui/dist)',
        }) as never,
  },
  async (args, ctx) => {
    if (args.p !== undefined)
      throw new ToolError('-p: as-serve has no -p (in the other tools it is a pid); the port is --port N', EXIT.USAGE);
    const token = args.token ?? (process.env.AS_SERVE_TOKEN || undefined);
    if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535)
      throw new ToolError(`--port: want 0..65535, got ${args.port}`, EXIT.USAGE);
    try {
      checkBind(args.host, token);
    } catch (e) {
      throw new ToolError((e as Error).message, EXIT.USAGE);
    }

    let prices: PriceTable;
    try {
      prices = loadPrices(args.prices);
    } catch (e) {
      throw new ToolError(`--prices ${(e as Error).message}`, EXIT.USAGE);
    }
    let store: Store;
    try {
      store = new Store(args.db, { prices });
    } catch (e) {
      throw new ToolError(`${args.db}: ${(e as Error).message}`);
    }
    ctx.onStop(() => store.close());
    // A write that fails (a full disk) stops the store with what earlier commits wrote kept;
    // the commit timer may be the one to meet it, so it is also awaited beside everything else.
    const storeFailed = (e: Error) =>
      new ToolError(`${args.db}: ${e.message}; the ${store.lastId} events stored before it are kept`);
    const failed = new Promise<never>((_, reject) => store.onFailure((e) => reject(storeFailed(e))));
    failed.catch(() => {
      /* raced below */
    });
    const guard = async <T>(p: Promise<T>): Promise<T> => {
      try {
        return await Promise.race([p, failed]);
      } catch (e) {
        throw store.failure ? storeFailed(store.failure) : e;
      }
    };

    let fleet: FleetQueries | undefined;
    if (args.clickhouse) {
      try {
        new URL(args.clickhouse);
        fleet = openFleet(args.clickhouse, args['clickhouse-table']);
      } catch (e) {
        throw new ToolError(`--clickhouse: ${(e as Error).message}`, EXIT.USAGE);
      }
      const f = fleet;
      ctx.onStop(() => f.client.close());
    }
    let server;
    try {
      server = await serve(store, {
        host: args.host,
        port: args.port,
        token,
        assets: args.assets ?? defaultAssetsDir(),
        log: (m) => ctx.warn(m),
        remote: fleet ? fleetApi(fleet) : undefined,
      });
    } catch (e) {
      if (e instanceof ServeConfigError) throw new ToolError(e.message, EXIT.USAGE);
      throw new ToolError(`listen ${args.host}:${args.port}: ${(e as Error).message}`);
    }
    ctx.onStop(() => server.close());
    const shown = token ? `${server.url}?token=${encodeURIComponent(token)}` : server.url;
    // agentsight exec runs us --quiet and prints the URL itself; a port picked at random must still be told.
    if (!args.quiet || args.port === 0)
      process.stderr.write(`as-serve: ${shown}  (store ${args.db}, ${store.lastId} events)\n`);

    const abort = new AbortController();
    ctx.onStop(() => abort.abort());
    const files = args._.map(String);
    const onError = (m: string) => ctx.warn(m);
    let put: ((ev: AgentEvent) => void) | undefined;
    let correlator: CorrelateStage | undefined;
    if (args.correlate) {
      correlator = new CorrelateStage({}, (ev) => {
        store.insert(ev);
      });
      put = (ev) => correlator!.write(ev);
      const c = correlator;
      const tick = setInterval(() => c.tick(Date.now() * 1000), 1000);
      tick.unref();
      ctx.onStop(() => {
        clearInterval(tick);
        if (!store.failure) {
          c.end();
          store.commit();
        }
      });
    }
    for (const f of files) {
      if (ctx.stopping) break;
      const list = f === '-' ? ['-'] : args.rotated ? expandRotated(f) : [f];
      for (const name of list) {
        if (name === '-') {
          const r = await guard(ingestStream(store, process.stdin, { strict: args.strict, onError, put }));
          ctx.info(`<stdin>: ${r.events} events stored`);
          continue;
        }
        if (!fs.existsSync(name)) throw new ToolError(`${name}: no such file`);
        const t0 = Date.now();
        let r;
        try {
          r = await guard(ingestFile(store, name, { strict: args.strict, onError, signal: abort.signal, put }));
        } catch (e) {
          throw e instanceof ToolError ? e : new ToolError((e as Error).message);
        }
        ctx.info(
          `${name}: ${r.events} events stored${r.skipped ? `, ${r.skipped} already stored` : ''}${ctx.stopping ? ' (stopped)' : ''} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
      }
    }
    if (!files.length && !process.stdin.isTTY) {
      const r = await guard(
        Promise.race([
          ingestStream(store, process.stdin, { strict: args.strict, onError, put }),
          ctx.stopped.then(() => null),
        ]),
      );
      if (r) ctx.info(`<stdin> ended: ${r.events} events stored; still serving (Ctrl-C to stop)`);
    }
    // End of input: tool calls still waiting for their next request are decided now.
    await guard(
      (async () => {
        correlator?.end();
        store.commit();
      })(),
    );
    ctx.summary.push(`${store.lastId} events in ${args.db}`);
    await guard(ctx.stopped);
  },
);
