// Shared by the as-serve API, security and browser tests: a store loaded with a mock
// agent session (LLM calls with tool calls, the processes they ran, a leaked key) and a
// server on a free loopback port.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import { HttpStage, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import { type MockSession, mockSession, type Server, Store, serve } from '@agentsight/serve';
import type { Page } from 'playwright-core';

import { CORPUS, ROOT } from './lib/run.js';

export { CORPUS, ROOT };
export const UI_DIST = path.join(ROOT, 'packages/ui/dist');
export const ARTIFACTS = path.join(ROOT, 'test/artifacts');

/**
 * Bundle the UI from the current source into a directory of this test's own (tap runs
 * test files in parallel: they must not rewrite one another's assets mid-load).
 */
export async function buildUi(): Promise<string> {
  const mod = (await import(path.join(ROOT, 'packages/ui/build.mjs'))) as {
    buildUi: (o?: { minify?: boolean; outDir?: string }) => Promise<{ dir: string }>;
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-ui-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return (await mod.buildUi({ outDir: dir })).dir;
}

export interface Fixture {
  store: Store;
  server: Server;
  session: MockSession;
  dir: string;
  dbPath: string;
  base: string;
  close(): Promise<void>;
}

export async function startFixture(
  opts: { token?: string; host?: string; start?: number; assets?: string } = {},
): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-test-'));
  const dbPath = path.join(dir, 'store.db');
  const store = new Store(dbPath);
  const session = mockSession({ start: opts.start ?? Date.now() * 1000 - 120_000_000 });
  for (const e of session.events) store.insert(e);
  store.commit();
  const server = await serve(store, {
    host: opts.host ?? '127.0.0.1',
    port: 0,
    token: opts.token,
    assets: opts.assets ?? UI_DIST,
  });
  return {
    store,
    server,
    session,
    dir,
    dbPath,
    base: server.url.replace(/\/$/, ''),
    async close() {
      await server.close();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function getJson(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; text: string }> {
  const r = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, body, text };
}

/** Debian's Chromium, and the flags it needs here (no sandbox as root; no network of its own). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Headless Chromium at 1280x800 on a fresh profile, closed (and the profile removed) when
 * the test ends. `errors` collects script errors and console errors of the page.
 */
export async function openBrowser(
  t: { teardown(fn: () => unknown): void },
  opts: { timeoutMs?: number } = {},
): Promise<{ page: Page; errors: string[] }> {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 800 },
    timeout: 30_000,
  });
  t.teardown(async () => {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.setDefaultTimeout(opts.timeoutMs ?? 10_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return { page, errors };
}

// ------------------------------------------------------------------ the shared corpus

export const CORPUS_APIS: Record<
  string,
  { host: string; path: (model: string, stream: boolean) => string; pid: number }
> = {
  anthropic: { host: 'api.anthropic.com', path: () => '/v1/messages', pid: 7001 },
  'openai-chat': { host: 'api.openai.com', path: () => '/v1/chat/completions', pid: 7002 },
  'openai-responses': { host: 'api.openai.com', path: () => '/v1/responses', pid: 7003 },
  gemini: {
    host: 'generativelanguage.googleapis.com',
    path: (m, s) => `/v1beta/models/${m}:${s ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
    pid: 7004,
  },
};

export interface Expected {
  text?: string;
  tool_calls?: Array<{ name: string }>;
  error?: string;
  model?: string;
}

/**
 * The corpus through the real as-http and as-merge stages, as one agent process per API
 * (pids 7001..7004, one exchange a second from `start`): every event goes to `write`.
 * Returns the llm/call events and what each process's calls are expected to hold.
 */
export function corpusCapture(
  write: (e: AgentEvent) => void,
  start = 1_790_000_000_000_000,
): { calls: AgentEvent[]; expected: Map<number, Expected[]>; exchanges: number; end: number } {
  const expected = new Map<number, Expected[]>();
  const calls: AgentEvent[] = [];
  const merge = new MergeStage({}, (e) => {
    if (e.src === 'llm' && e.type === 'call') calls.push(e);
    write(e);
  });
  const http = new HttpStage({}, (e) => merge.write(e));
  let ts = start;
  let n = 0;
  for (const api of Object.keys(CORPUS_APIS).sort()) {
    const a = CORPUS_APIS[api]!;
    for (const f of fs
      .readdirSync(path.join(CORPUS, api))
      .filter((x) => x.endsWith('.http'))
      .sort()) {
      const base = path.join(CORPUS, api, f.slice(0, -5));
      const exp = JSON.parse(fs.readFileSync(`${base}.expected.json`, 'utf8')) as Expected;
      const body = fs.readFileSync(`${base}.request.json`);
      const res = fs.readFileSync(`${base}.http`);
      const stream = /text\/event-stream/i.test(res.subarray(0, 2000).toString('latin1'));
      const req = Buffer.concat([
        Buffer.from(
          `POST ${a.path(exp.model ?? 'gemini-2.5-flash', stream)} HTTP/1.1\r\nhost: ${a.host}\r\nauthorization: Bearer sk-corpus-0123456789abcdef\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
        ),
        body,
      ]);
      const conn = `corpus-${n++}`;
      for (const e of sslEvents(req, { conn, dir: 'write', ts, pid: a.pid, comm: api.slice(0, 15) })) http.write(e);
      ts += 300_000;
      for (const e of sslEvents(res, {
        conn,
        dir: 'read',
        ts,
        pid: a.pid,
        comm: api.slice(0, 15),
        cuts: [Math.floor(res.length / 2)],
      }))
        http.write(e);
      ts += 700_000;
      const l = expected.get(a.pid) ?? [];
      l.push(exp);
      expected.set(a.pid, l);
    }
  }
  http.end();
  merge.end();
  return { calls, expected, exchanges: n, end: ts };
}
