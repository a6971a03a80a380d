// The as-serve UI in headless Chromium (Debian's chromium, driven by playwright-core):
// every view against a mock agent session with tool calls; what a person must see is on
// the page; a live event shows up without a reload; no captured secret is ever shown.
// Screenshots go to test/artifacts/ for a person to look at.
import fs from 'node:fs';
import path from 'node:path';
import type { AgentEvent, LlmCallEvent } from '@agentsight/events';
import t, { type Test } from 'tap';
import { ARTIFACTS, buildUi, CHROMIUM, type Fixture, openBrowser, startFixture } from './serve-fixture.js';

if (!fs.existsSync(CHROMIUM)) {
  t.plan(
    0,
    `SKIP: ${CHROMIUM} not installed (apt-get install chromium; the Makefile's APT_PKGS has it): browser tests cannot run`,
  );
} else {
  const assets = await buildUi();
  const fx: Fixture = await startFixture({ assets });
  t.teardown(() => fx.close());
  const { page, errors: pageErrors } = await openBrowser(t);
  let expected401 = false;
  const f = fx.session.facts;
  // A finding of the correlator about this agent, shown in Conversations and on the Timeline.
  fx.store.insert({
    v: 1,
    ts: f.end - 100_000,
    src: 'trace',
    type: 'alert',
    pid: f.agentPid,
    rule: 'sensitive_file',
    severity: 'critical',
    message: 'tool read ~/.ssh/id_ed25519',
    evidence: { call: f.callIds[1] },
  } as AgentEvent);
  fx.store.commit();
  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `serve-${name}.png`), fullPage: false });
  const noSecret = async (t: Test, where: string) => {
    const html = await page.content();
    t.notOk(html.includes(f.secret), `${where}: the leaked key is not in the page`);
    t.notOk(html.includes(f.secret.slice(0, 20)), `${where}: not even its prefix`);
  };

  await t.test('conversations: prompt, answer, tool call, the process it ran and its exit code', async (t) => {
    await page.goto(`${fx.base}/conversations`);
    await page.waitForSelector('section.call');
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('section.call').length >= 3);
    const text = await page.innerText('main');
    t.match(text, f.userPrompt, 'the user prompt');
    t.match(text, 'README.md has 42 lines', 'the final answer, markdown rendered (bold is not shown as **)');
    t.notMatch(text, '**42 lines**', 'markdown markers are rendered, not shown');
    t.equal(await page.locator('section.call strong', { hasText: '42 lines' }).count(), 1, 'bold text is a <strong>');
    t.match(text, 'claude-sonnet-4', 'the model');
    t.match(text, 'tool read ~/.ssh/id_ed25519', "the correlator's alert about this agent");
    t.match(text, f.toolCommand, 'the tool call arguments');
    const ran = page.locator('table.procs tr', { hasText: f.toolCommand });
    t.ok((await ran.count()) >= 1, 'the spawned process is listed under its tool call');
    t.match(await ran.first().innerText(), 'exit 0', 'with its exit code');
    const failed = page.locator('table.procs tr', { hasText: f.failingCommand });
    t.match(
      await failed.first().innerText(),
      `exit ${f.failingExitCode}`,
      'the failing tool process shows its exit code',
    );
    t.match(await page.locator('.call-head').first().innerText(), /TTFT/, 'latency and time to first token');
    t.match(
      await page.locator('.call-head .peer').first().innerText(),
      '127.0.0.1:8443',
      "where the call's socket was connected",
    );
    t.ok(new URL(page.url()).searchParams.get('pid'), 'the selected session is in the URL');
    const older = page.locator('details.older').first();
    t.equal(await older.locator('.msg').count(), 0, 'earlier turns are not loaded up front');
    await older.locator('summary').click();
    await older.locator('.msg').first().waitFor();
    t.match(await older.innerText(), f.userPrompt, 'unfolding fetches the earlier turns');
    await noSecret(t, 'conversations');
    await shot('conversations');
  });

  await t.test('process tree: command lines, exit codes, what each touched', async (t) => {
    await page.goto(`${fx.base}/processes`);
    await page.waitForSelector('.node');
    const text = await page.innerText('.tree');
    t.match(text, 'node agent.js --task readme', 'the agent');
    t.match(text, 'python3 -m pytest -q tests', 'a tool child process');
    t.match(text, `exit ${f.failingExitCode}`, 'its exit code');
    await page
      .locator('.node', { hasText: /^wc -l README.md/ })
      .first()
      .click();
    await page.waitForSelector('table.touches');
    const pane = await page.innerText('aside.pane');
    t.match(pane, '/home/dev/project/README.md', 'the file it opened');
    t.match(new URL(page.url()).searchParams.get('rid') ?? '', /^\d+$/, 'the selection is in the URL');
    await shot('processes');
  });

  await t.test('timeline: calls, process lifetimes, activity; zoom changes the URL', async (t) => {
    await page.goto(`${fx.base}/timeline`);
    await page.waitForSelector('svg.tl g.proc-bar');
    t.equal(await page.locator('svg.tl g.call-bar').count(), 3, 'three LLM calls');
    t.ok((await page.locator('svg.tl g.proc-bar').count()) >= 5, 'agent and tool processes');
    t.ok((await page.locator('svg.tl rect.proc.tool').count()) >= 2, 'tool processes are marked as such');
    t.ok((await page.locator('svg.tl rect.act.open').count()) >= 1, 'file activity ticks');
    t.equal(await page.locator('svg.tl g.alert-mark').count(), 1, 'the correlation alert is marked on the axis');
    await shot('timeline');
    await page.click('button[title="zoom in"]');
    await page.waitForFunction(() => new URL((globalThis as any).location.href).searchParams.has('from'));
    const u = new URL(page.url());
    t.ok(Number(u.searchParams.get('to')) - Number(u.searchParams.get('from')) > 0, 'the zoomed range is in the URL');
  });

  await t.test('events: filters in the URL, detail pane, secrets redacted', async (t) => {
    await page.goto(`${fx.base}/events?src=ssl`);
    await page.waitForSelector('table.events tbody tr');
    t.equal(await page.locator('table.events tbody tr').count(), 3, 'only the filtered source');
    await page.locator('table.events tbody tr').first().click();
    await page.waitForSelector('aside.pane details.j');
    t.match(await page.innerText('aside.pane'), '[REDACTED sha256:', 'the raw TLS write shows the key redacted');
    await noSecret(t, 'events ssl');
    await page.goto(`${fx.base}/events`);
    await page.fill('input[name=q]', 'pytest');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => new URL((globalThis as any).location.href).searchParams.get('q') === 'pytest');
    await page.waitForSelector('table.events tbody tr');
    const rows = await page.locator('table.events tbody tr').allInnerTexts();
    t.ok(rows.length > 0 && rows.every((r) => /pytest|llm\/call|http|stdio|proc/.test(r)), 'text search applied');
    await shot('events');
  });

  await t.test('metrics: CPU, memory, tokens and cost charts', async (t) => {
    await page.goto(`${fx.base}/metrics`);
    await page.waitForSelector('figure.chartbox svg');
    t.equal(await page.locator('figure.chartbox').count(), 5, 'five charts');
    t.ok(
      (await page.locator('figure.chartbox svg path').count()) >= 4,
      'CPU and memory lines for the sampled processes, token lines',
    );
    t.match(await page.innerText('.totals'), /2753\s+input tokens/, 'token totals add up the three calls');
    await shot('metrics');
  });

  await t.test('live: events stored after page load appear without a reload', async (t) => {
    await page.goto(`${fx.base}/events`);
    await page.waitForSelector('table.events tbody tr');
    await page.waitForSelector('#live.on');
    const ts = f.end + 1_000_000;
    fx.store.insert({
      v: 1,
      ts,
      src: 'proc',
      type: 'exec',
      pid: 9999,
      tid: 9999,
      comm: 'echo',
      ppid: f.agentPid,
      uid: 1000,
      filename: '/bin/echo',
      argv: ['echo', 'live-marker-7395'],
    } as AgentEvent);
    const t0 = Date.now();
    fx.store.commit();
    await page.waitForSelector('text=live-marker-7395', { timeout: 15_000 });
    t.pass(`new event on screen after ${Date.now() - t0} ms, without a reload`);

    await page.goto(`${fx.base}/conversations`);
    await page.waitForSelector('section.call');
    const first = fx.session.events.find((e) => e.src === 'llm' && e.type === 'call') as LlmCallEvent;
    const id = 'llm-live-call';
    for (const piece of ['Streaming ', 'LIVE-ANSWER ', 'arrives']) {
      fx.store.insert({
        v: 1,
        ts: ts + 10,
        src: 'llm',
        type: 'delta',
        pid: f.agentPid,
        tid: f.agentPid,
        comm: 'node',
        id,
        kind: 'text',
        text: piece,
        conn: first.conn,
      } as AgentEvent);
    }
    fx.store.commit();
    await page.waitForSelector('section.call.streaming >> text=LIVE-ANSWER', { timeout: 5000 });
    t.pass('a streaming call shows its partial text');
    fx.store.insert({
      ...first,
      id,
      ts: ts + 500_000,
      timing: { start: ts + 5, ttft_ms: 100, duration_ms: 400 },
      response: { ...first.response, text: 'Streaming LIVE-ANSWER arrived, done.', tool_calls: [] },
    } as AgentEvent);
    fx.store.commit();
    await page.waitForSelector('text=LIVE-ANSWER arrived, done.', { timeout: 5000 });
    t.equal(await page.locator('section.call.streaming').count(), 0, 'the finished call replaces the streaming one');
    await shot('conversations-live');
  });

  await t.test('light theme and 1280x800', async (t) => {
    await page.goto(`${fx.base}/conversations`);
    await page.waitForSelector('section.call');
    const before = await page.evaluate<string>('document.documentElement.dataset.theme');
    await page.click('#theme');
    const after = await page.evaluate<string>('document.documentElement.dataset.theme');
    t.not(after, before, 'the theme toggles');
    const bg = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    t.ok(bg, `body background ${bg}`);
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
    t.ok(overflow <= 0, 'no horizontal scrolling at 1280x800');
    await shot(`conversations-${after}`);
    await page.click('#theme');
  });

  await t.test(
    'with --token: the URL token becomes a cookie, the page and its live feed work, the URL loses the token',
    async (t) => {
      const token = 'browser-token-0123456789';
      const fx2 = await startFixture({ token, assets });
      t.teardown(() => fx2.close());
      const res = await page.goto(`${fx2.base}/events`);
      t.equal(res?.status(), 401, 'without the token: 401');
      expected401 = true;
      await page.goto(`${fx2.base}/conversations?token=${token}`);
      await page.waitForSelector('section.call');
      t.notMatch(page.url(), 'token', 'token removed from the address bar');
      await page.waitForSelector('#live.on');
      t.pass('the live feed connected with the cookie');
      await page.goto(`${fx2.base}/events`);
      await page.waitForSelector('table.events tbody tr');
      t.pass('other views load without the token in the URL');
    },
  );

  t.test('no script errors on any page', async (t) => {
    // The browser logs the refused page load of the token test itself; nothing else may fail.
    t.same(
      pageErrors.filter((m) => !(expected401 && /status of 401/.test(m))),
      [],
      'console and page errors',
    );
  });
}
