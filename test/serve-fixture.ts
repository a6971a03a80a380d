// Shared by the as-serve API, security and browser tests: a store loaded with a mock
// agent session (LLM calls with tool calls, the processes they ran, a leaked key) and a
// server on a free loopback port.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store, serve, mockSession, type MockSession, type Server } from '@agentsight/serve';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const UI_DIST = path.join(ROOT, 'packages/ui/dist');
export const ARTIFACTS = path.join(ROOT, 'test/artifacts');

/**
 * Bundle the UI from the current source into a directory of this test's own (tap runs
 * test files in parallel: they must not rewrite one another's assets mid-load).
 */
export async function buildUi(): Promise<string> {
  const mod = (await import(path.join(ROOT, 'packages/ui/build.mjs'))) as { buildUi: (o?: { minify?: boolean; outDir?: string }) => Promise<{ dir: string }> };
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

export async function startFixture(opts: { token?: string; host?: string; start?: number; assets?: string } = {}): Promise<Fixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-test-'));
  const dbPath = path.join(dir, 'store.db');
  const store = new Store(dbPath);
  const session = mockSession({ start: opts.start ?? Date.now() * 1000 - 120_000_000 });
  for (const e of session.events) store.insert(e);
  store.commit();
  const server = await serve(store, { host: opts.host ?? '127.0.0.1', port: 0, token: opts.token, assets: opts.assets ?? UI_DIST });
  return {
    store, server, session, dir, dbPath, base: server.url.replace(/\/$/, ''),
    async close() {
      await server.close();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string }> {
  const r = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  let body: unknown = undefined;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body, text };
}
