// The sessions UI at the scale of real use, in headless Chromium against a real as-serve. The
// store holds real agent runs captured by `agentsight exec` (Claude Code starting a Task
// sub-agent, Gemini CLI, the Anthropic SDK agent; all against the mock LLM), the recorded
// provider traffic of the shared corpus, a mock session with a correlator alert, and
// generated sessions padded with bulk events. What a user must find:
// - a word from a prompt finds its session; each filter narrows to exactly what it says;
// - the session page shows its conversation, timeline and process tree, the session
//   highlighted and scrolled into view in the list beside it;
// - the sub-agent's calls sit under the Task tool call that started it;
// - Claude Code's injected context is folded and the user's real prompt is the first text;
// - nothing overflows horizontally at 1280 px; chart axes read right.
// Screenshots go to test/artifacts/ (serve-sessions-*.png) for a person to look at.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import type { MockRequest, Reply } from '@agentsight/mock-llm';
import {
  bulkCapture,
  ingestFile,
  mockSession,
  type SessionPage,
  type SessionRow,
  Store,
  serve,
} from '@agentsight/serve';
import t, { type Test } from 'tap';
import { type Agent, claudeCode, execAgent, geminiCli, SESSION, sdkAgent } from './lib/agents.js';
import { kernelSkipReason } from './proc-harness.js';
import { ARTIFACTS, buildUi, CHROMIUM, CORPUS, corpusCapture, getJson, openBrowser } from './serve-fixture.js';

// A million, as the issue asks of the UI at the scale of real use (a load of about 12 s here).
const GENERATED = Number(process.env.AS_UI_EVENTS ?? 1_000_000);
const CLAUDE_PROMPT = 'Ask a helper to list the quokka enclosure, then report back.';
const SUB_PROMPT = 'List /etc/hostname with ls -la and report what you see (quokka check).';
const SUB_COMMAND = 'ls -la /etc/hostname';
const SUB_ANSWER = 'SUBAGENT-REPORT: the hostname file is there.';
const GEMINI_PROMPT = 'Save the wombat hostname to a file, then write a short note.';
const SDK_PROMPT = 'Save the numbat hostname to a file, then write a short note.';

function skipReason(): string | null {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} not installed (apt-get install chromium)`;
  if (!fs.existsSync(CORPUS)) return `the shared corpus is missing at ${CORPUS}`;
  return null;
}

/** Claude Code's main loop asks for a Task sub-agent; the sub-agent runs one command and reports. */
function claudeWithTask(): Agent {
  const base = claudeCode();
  const assistants = (req: MockRequest) =>
    ((req.json as { messages?: Array<{ role: string }> })?.messages ?? []).filter((m) => m.role === 'assistant').length;
  return {
    ...base,
    launch: (o) => {
      const l = base.launch(o);
      // Task (named Agent in some versions) must be allowed besides the shell.
      return { ...l, cmd: l.cmd.map((x) => (x === 'Bash,Write' ? 'Bash,Write,Task,Agent' : x)) };
    },
    aside(req: MockRequest): Reply {
      const body = (req.json ?? {}) as { tools?: Array<{ name: string }>; messages?: unknown[] };
      // The sub-agent's conversation starts with the Task prompt (the parent's later requests
      // carry it too, inside the tool call's arguments).
      if (JSON.stringify(body.messages?.[0] ?? null).includes('quokka check')) {
        return assistants(req) === 0
          ? {
              toolCalls: [
                { id: 'toolu_sub_ls', name: 'Bash', arguments: { command: SUB_COMMAND, description: 'List it' } },
              ],
              usage: { input_tokens: 900, output_tokens: 30 },
            }
          : { text: SUB_ANSWER, usage: { input_tokens: 1000, output_tokens: 12 } };
      }
      const task = body.tools?.find((x) => x.name === 'Task' || x.name === 'Agent');
      if (!task) return { text: 'ok' };
      return assistants(req) === 0
        ? {
            toolCalls: [
              {
                id: 'toolu_task_1',
                name: task.name,
                arguments: { description: 'List the enclosure', prompt: SUB_PROMPT, subagent_type: 'general-purpose' },
              },
            ],
            usage: { input_tokens: 5000, output_tokens: 60 },
          }
        : { text: 'The helper reports: the hostname file is there.', usage: { input_tokens: 5200, output_tokens: 20 } };
    },
  };
}

interface RealRun {
  name: string;
  prompt: string;
  capture: string;
  dir: string;
}

/** Run an agent under `agentsight exec`; null (said loudly) when it cannot run here. */
async function realRun(
  t: Test,
  agent: Agent,
  prompt: string,
  turns: (cwd: string) => Reply[],
): Promise<RealRun | null> {
  const why = kernelSkipReason(['proc.bpf.o', 'sslsniff.bpf.o']) ?? agent.available();
  if (why) {
    t.comment(`SKIP ${agent.name}: ${why}`);
    return null;
  }
  const run = await execAgent(agent, turns, { prompt, timeoutMs: 120_000 });
  t.equal(run.exitCode, 0, `${agent.name} ran to completion under agentsight exec`);
  if (run.exitCode !== 0) t.comment(run.stderr.slice(-2000));
  return { name: agent.name, prompt, capture: path.join(run.dir, 'capture.ndjson'), dir: run.dir };
}

const why = skipReason();
if (why) {
  t.plan(0, `SKIP: ${why}`);
} else {
  const assets = await buildUi();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-sessions-'));
  const store = new Store(path.join(dir, 's.db'));
  const runs: RealRun[] = [];
  await t.test('real agent runs captured', async (t) => {
    const c = await realRun(t, claudeWithTask(), CLAUDE_PROMPT, () => []);
    if (c) runs.push(c);
    const g = geminiCli();
    const gr = await realRun(t, g, GEMINI_PROMPT, SESSION.turns(g));
    if (gr) runs.push(gr);
    const sdk = sdkAgent('anthropic');
    const sr = await realRun(t, sdk, SDK_PROMPT, SESSION.turns(sdk));
    if (sr) runs.push(sr);
  });
  const t0 = performance.now();
  for (const r of runs) await ingestFile(store, r.capture);
  const corpus = corpusCapture((e) => store.insert(e));
  const day = 86_400_000_000;
  const mock = mockSession({ start: Date.now() * 1000 - day, agentPid: 4100 });
  for (const e of mock.events) store.insert(e);
  store.insert({
    v: 1,
    ts: mock.facts.end - 100_000,
    src: 'trace',
    type: 'alert',
    pid: mock.facts.agentPid,
    rule: 'sensitive_file',
    severity: 'critical',
    message: 'tool read ~/.ssh/id_ed25519',
    evidence: { call: mock.facts.callIds[1] },
  } as AgentEvent);
  let n = 0;
  for (const e of bulkCapture(GENERATED, 1_780_000_000_000_000)) {
    store.insert(e);
    if (++n % 20_000 === 0) store.commit();
  }
  store.commit();
  t.comment(
    `store: ${runs.length} real runs, ${corpus.calls.length} corpus calls, ${n} generated events in ${(performance.now() - t0).toFixed(0)} ms`,
  );
  const srv = await serve(store, { host: '127.0.0.1', port: 0, assets });
  const base = srv.url.replace(/\/$/, '');
  const { page, errors } = await openBrowser(t, { timeoutMs: 20_000 });
  t.teardown(async () => {
    await srv.close();
    store.close();
    for (const r of runs) fs.rmSync(r.dir, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `serve-sessions-${name}.png`) });
  /** Every session the API lists for these filters (all pages): the truth the UI is held to. */
  const all = async (q: Record<string, string> = {}): Promise<SessionRow[]> => {
    const out: SessionRow[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 200; i++) {
      const qs = new URLSearchParams({ ...q, limit: '100', ...(cursor ? { cursor } : {}) });
      const r = await getJson(`${base}/api/sessions?${qs}`);
      if (r.status !== 200) throw new Error(`/api/sessions?${qs}: ${r.status} ${r.text.slice(0, 300)}`);
      const p = r.body as SessionPage;
      out.push(...p.sessions);
      cursor = p.next;
      if (!cursor) break;
    }
    return out;
  };
  const listed = async (): Promise<string[]> => {
    await page.waitForSelector('.slist .srow, .slist .empty');
    return page
      .locator('.slist .srow')
      .evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { id?: string } }).dataset.id ?? ''));
  };
  /** Nothing wider than the window, the page or its main scrolling boxes. */
  const noOverflow = async (t: Test, where: string) => {
    const bad = await page.evaluate(() => {
      const doc = (globalThis as any).document;
      const out: string[] = [];
      for (const sel of ['html', 'main', '.sdetail', '.ssidebar', '.calls-list', '.tree', '.charts', '.ogrid']) {
        for (const el of doc.querySelectorAll(sel))
          if (el.scrollWidth > el.clientWidth + 1) out.push(`${sel}: ${el.scrollWidth} > ${el.clientWidth}`);
      }
      return out;
    });
    t.same(bad, [], `${where}: no horizontal overflow at 1280 px`);
  };

  const everyone = await all();
  t.ok(everyone.length >= 6, `${everyone.length} sessions in the store`);
  const byPid = (pid: number) => everyone.find((s) => s.pid === pid);
  const claude = runs.some((r) => r.name === 'claude-code')
    ? everyone.find((s) => !s.parent && s.title?.includes('quokka enclosure'))
    : undefined;

  await t.test('the landing page is the session list', async (t) => {
    await page.goto(`${base}/`);
    const ids = await listed();
    t.ok(ids.length > 0, `${ids.length} sessions listed`);
    t.equal(await page.locator('#nav a.active').innerText(), 'Sessions');
    await noOverflow(t, 'sessions');
    await shot('list');
  });

  await t.test('a word from a prompt finds its session', async (t) => {
    // "What is the capital of France?" is an OpenAI Chat request of the corpus (pid 7002).
    const france = byPid(7002);
    t.ok(france, 'the corpus OpenAI Chat session exists');
    await page.goto(`${base}/sessions`);
    await page.fill('input[name=q]', 'France');
    await page.press('input[name=q]', 'Enter');
    await page.waitForFunction(() => new URL((globalThis as any).location.href).searchParams.get('q') === 'France');
    const ids = await listed();
    t.ok(ids.includes(france!.id), 'the session whose prompt says France is found');
    t.ok(ids.length < everyone.length, `${ids.length} of ${everyone.length} sessions match`);
    t.match(
      await page.locator(`.srow[data-id="${france!.id}"] .snippet mark`).first().innerText(),
      /france/i,
      'the match is marked',
    );
    await shot('search');
    for (const [word, prompt] of [
      ['quokka', CLAUDE_PROMPT],
      ['wombat', GEMINI_PROMPT],
      ['numbat', SDK_PROMPT],
    ] as const) {
      const run = runs.find((r) => r.prompt === prompt);
      if (!run) continue;
      await page.goto(`${base}/sessions?q=${word}`);
      const ids = await listed();
      const titles = await page.locator('.slist .srow .title').allInnerTexts();
      t.ok(ids.length >= 1 && ids.length < everyone.length, `${word}: ${ids.length} sessions`);
      t.ok(
        titles.some((x) => x.includes(prompt.slice(0, 30))),
        `${run.name}: its session is found by "${word}"`,
      );
    }
  });

  await t.test('filters narrow to exactly what they say', async (t) => {
    const cases: Array<[string, Record<string, string>, (s: SessionRow) => boolean]> = [];
    const model = byPid(7002)?.models[0];
    if (model) cases.push([`model ${model}`, { model }, (s) => s.models.includes(model)]);
    const provider = byPid(7004)?.providers[0];
    if (provider) cases.push([`provider ${provider}`, { provider }, (s) => s.providers.includes(provider)]);
    // A session's status is an error when it has errors (failed calls, failed tool results) or alerts.
    cases.push(['status error', { status: 'error' }, (s) => s.errors > 0 || s.alerts > 0]);
    cases.push(['status ok', { status: 'ok' }, (s) => s.errors === 0 && s.alerts === 0]);
    cases.push(['alerts', { alerts: '1' }, (s) => s.alerts > 0]);
    const from = 1_790_000_000_000_000;
    cases.push([
      'time range of the corpus',
      { from: String(from), to: String(corpus.end) },
      (s) => s.end >= from && s.start <= corpus.end,
    ]);
    if (claude?.agent) cases.push([`agent ${claude.agent}`, { agent: claude.agent }, (s) => s.agent === claude.agent]);
    if (claude?.host) cases.push([`host ${claude.host}`, { host: claude.host }, (s) => s.host === claude.host]);
    for (const [name, q, pred] of cases) {
      await page.goto(`${base}/sessions?${new URLSearchParams(q)}`);
      const ids = await listed();
      const want = everyone.filter(pred);
      t.ok(want.length < everyone.length, `${name}: the filter is not trivial (${want.length} of ${everyone.length})`);
      const shown = new Set(ids);
      t.ok(
        ids.every((id) => want.some((s) => s.id === id)),
        `${name}: every session listed satisfies it (${ids.length} listed)`,
      );
      if (want.length <= 50)
        t.same(
          [...shown].sort(),
          want.map((s) => s.id).sort(),
          `${name}: and every session that satisfies it is listed`,
        );
    }
    // The mock session's alert is the one alert in the store.
    await page.goto(`${base}/sessions?alerts=1`);
    t.ok((await listed()).includes(byPid(mock.facts.agentPid)?.id ?? '?'), 'alerts: the session with the alert');
    // Through the form: the status choice applies at once, and stays in the URL.
    await page.goto(`${base}/sessions`);
    await page.selectOption('select[name=status]', 'error');
    await page.waitForFunction(() => new URL((globalThis as any).location.href).searchParams.get('status') === 'error');
    const errIds = await listed();
    t.ok(errIds.length > 0 && errIds.length < everyone.length, `status=error from the form: ${errIds.length} listed`);
    t.equal(
      await page
        .locator('.slist .srow')
        .filter({ hasNot: page.locator('.badge.bad, .badge.warn') })
        .count(),
      0,
      'each shows its errors or alerts',
    );
    await noOverflow(t, 'filtered list');
    await shot('filter-errors');
    if (model) {
      await page.goto(`${base}/sessions?model=${encodeURIComponent(model)}`);
      await listed();
      t.equal(await page.locator('input[name=model]').inputValue(), model, 'the form shows the filter of the URL');
    }
  });

  await t.test('session page: highlighted in the list, conversation, timeline and processes scoped', async (t) => {
    // A generated session far down the list: the list pages until it shows it.
    const far = everyone.filter((s) => s.pid != null && s.pid >= 10_000).at(-1) ?? everyone.at(-1)!;
    await page.goto(`${base}/session?id=${encodeURIComponent(far.id)}`);
    await page.waitForSelector('.ssidebar .srow.sel');
    const sel = page.locator('.ssidebar .srow.sel');
    t.equal(await sel.count(), 1, 'one session highlighted');
    t.equal(await sel.getAttribute('data-id'), far.id, 'the open one');
    const [sb, side] = await Promise.all([sel.boundingBox(), page.locator('.ssidebar').boundingBox()]);
    t.ok(sb && side && sb.y >= side.y - 1 && sb.y + sb.height <= side.y + side.height + 1, 'scrolled into view');
    await page.waitForSelector('.calls-list section.call');
    t.equal(await page.locator('.tabpanel > .calls-list > section.call').count(), Math.min(25, far.calls), 'its calls');
    await noOverflow(t, 'session conversation');
    await shot('session-generated');
    await page.click('.tabs button[data-tab=timeline]');
    await page.waitForSelector('svg.tl g.call-bar');
    t.equal(await page.locator('svg.tl g.call-bar').count(), far.calls, 'the timeline holds this session’s calls only');
    const lanes = await page.locator('svg.tl text.lbl.agent').allTextContents();
    t.ok(
      lanes.length >= 1 && lanes.every((l) => !/pid \d+/.test(l)),
      `lanes named by session, not pid: ${lanes.join(' | ')}`,
    );
    await noOverflow(t, 'session timeline');
    await shot('session-timeline');
    await page.click('.tabs button[data-tab=processes]');
    await page.waitForSelector('.tabpanel .tree .node, .tabpanel .empty');
    await noOverflow(t, 'session processes');
    // Back to the list: the same session highlighted there.
    await page.click('a.back');
    await page.waitForSelector('.slist .srow.sel');
    t.equal(await page.locator('.slist .srow.sel').getAttribute('data-id'), far.id, 'and in the full list');
  });

  await t.test('Claude Code: the Task sub-agent under its tool call; the real prompt first', async (t) => {
    if (!claude) {
      t.comment('SKIP: no Claude Code run (see the first subtest)');
      return;
    }
    const sub = everyone.find((s) => s.parent?.session === claude.id);
    t.ok(sub, 'the sub-agent is a session with the main session as its parent');
    t.equal(sub?.parent?.toolCall, 'toolu_task_1', 'started by the Task tool call');
    await page.goto(`${base}/session?id=${encodeURIComponent(claude.id)}`);
    await page.waitForSelector('.calls-list section.call');
    // The first call's user turn: the prompt as typed, then the folded context.
    const firstUser = page.locator('.calls-list > section.call').first().locator('.msg.role-user .msg-body').first();
    const firstText = await firstUser.locator(':scope > *').first().innerText();
    t.equal(firstText.trim(), CLAUDE_PROMPT, "Claude's real prompt is the first text of its turn");
    const inj = firstUser.locator(':scope > details.injected');
    t.equal(await inj.count(), 1, 'the injected context is one folded block');
    t.match(await inj.locator(':scope > summary').innerText(), /^injected context \(\d+ blocks?/, 'labelled');
    t.notOk(await inj.evaluate((d) => (d as { open: boolean }).open), 'folded');
    t.notMatch(await firstUser.innerText(), /<system-reminder>/, 'no reminder text on screen while folded');
    const task = page.locator('.calls-list > section.call .tool-use[data-tool-id="toolu_task_1"]');
    t.equal(await task.count(), 1, 'the Task tool call');
    await task.locator('details.subagent section.call').first().waitFor();
    const subCalls = task.locator('details.subagent section.call');
    t.equal(await subCalls.count(), sub?.calls ?? -1, "the sub-agent's calls sit under it");
    t.match(await task.locator('details.subagent').innerText(), SUB_COMMAND, 'with the command it ran');
    t.match(await task.locator('details.subagent').innerText(), SUB_ANSWER, 'and its answer');
    t.equal(
      await page.locator('.tabpanel > .calls-list > section.call').count(),
      claude.calls,
      "the parent's own calls at the top level",
    );
    const loose = await page.evaluate(
      () =>
        [...(globalThis as any).document.querySelectorAll('.calls-list [data-tool-id="toolu_sub_ls"]')].filter(
          (e: any) => !e.closest('details.subagent'),
        ).length,
    );
    t.equal(loose, 0, "the sub-agent's tool call is never shown outside its block");
    await noOverflow(t, 'claude session');
    await shot('claude');
    await inj.locator(':scope > summary').click();
    t.match(
      await inj.innerText(),
      /system reminder|CLAUDE\.md|skills|agent types|date|environment|tool list/,
      'unfolded: what each block is',
    );
    await shot('claude-injected');
    // Claude Code's shell snapshot command is kilobytes long: cut, expandable.
    await page.click('.tabs button[data-tab=processes]');
    await page.waitForSelector('.tabpanel .tree .node');
    await noOverflow(t, 'claude processes');
    await shot('claude-processes');
    await page.click('.tabs button[data-tab=timeline]');
    await page.waitForSelector('svg.tl g.call-bar');
    const lanes = await page.locator('svg.tl text.lbl.agent').allTextContents();
    t.ok(
      lanes.some((l) => l.includes('sub-agent')),
      `the sub-agent has a lane of its own: ${lanes.join(' | ')}`,
    );
    await shot('claude-timeline');
  });

  await t.test('long argv and outputs are cut, with a way to see all', async (t) => {
    await page.goto(`${base}/conversations?pid=${mock.facts.agentPid}`);
    await page.waitForSelector('section.call');
    // Every process command cell either fits or is cut with a button.
    const long = await page.evaluate(
      () =>
        [...(globalThis as any).document.querySelectorAll('td.argv-cell .clip')].filter(
          (e: any) => e.textContent.length > 400 && !e.querySelector('button.clip-more'),
        ).length,
    );
    t.equal(long, 0, 'no long argv shown whole');
    const more = page.locator('button.clip-more').first();
    if ((await more.count()) > 0) {
      const before = (await more.locator('xpath=..').innerText()).length;
      await more.click();
      t.ok((await more.locator('xpath=..').innerText()).length > before, 'the button shows the rest');
    }
    await noOverflow(t, 'conversations');
  });

  await t.test('overview: by model, agent and day; calls and errors; tools; slowest; alerts; axes', async (t) => {
    await page.goto(`${base}/overview`);
    await page.waitForSelector('figure.chartbox svg');
    const text = await page.innerText('main');
    for (const m of ['claude-sonnet-4', byPid(7002)?.models[0]].filter(Boolean))
      t.match(text, m!, `model ${m} in the by-model table`);
    t.match(text, /By agent/);
    t.match(text, /By day/);
    t.match(text, /Top tools/);
    t.match(text, /Slowest calls/);
    t.match(text, 'tool read ~/.ssh/id_ed25519', 'the alert');
    const axes = await page.evaluate(() =>
      [...(globalThis as any).document.querySelectorAll('figure.chartbox')].map((f: any) => ({
        title: f.querySelector('figcaption').textContent,
        y: [...f.querySelectorAll('text.ytick')].map((e: any) => e.textContent),
        x: [...f.querySelectorAll('text.xtick')].map((e: any) => e.textContent),
      })),
    );
    for (const a of axes) {
      t.equal(new Set(a.y).size, a.y.length, `${a.title}: distinct y labels ${a.y.join(' ')}`);
      t.equal(new Set(a.x).size, a.x.length, `${a.title}: distinct x labels ${a.x.join(' ')}`);
      if (/^Cost/.test(a.title))
        t.ok(
          a.y.every((l: string) => l.startsWith('$')),
          `${a.title}: in dollars`,
        );
      if (/^Tokens/.test(a.title))
        t.ok(
          a.y.slice(1).every((l: string) => /^\d+(\.\d+)?[kMB]?$/.test(l)),
          `${a.title}: k/M`,
        );
    }
    await noOverflow(t, 'overview');
    await shot('overview');
  });

  await t.test('metrics: the cumulative-cost axis reads in dollars, each label distinct', async (t) => {
    await page.goto(`${base}/metrics?from=${mock.facts.end - 120_000_000}&to=${mock.facts.end + 1_000_000}`);
    await page.waitForSelector('figure.chartbox svg');
    const cost = page.locator('figure.chartbox', { hasText: 'Cumulative cost' });
    const y = await cost.locator('text.ytick').allTextContents();
    t.equal(new Set(y).size, y.length, `distinct: ${y.join(' ')}`);
    t.ok(
      y.every((l) => l.startsWith('$')),
      'in dollars',
    );
    await noOverflow(t, 'metrics');
    await shot('metrics');
  });

  await t.test('the Timeline: lanes by session, a session picker, a click opens the session', async (t) => {
    await page.goto(`${base}/timeline`);
    await page.waitForSelector('svg.tl g.call-bar');
    const lanes = await page.locator('svg.tl text.lbl.agent').allTextContents();
    t.ok(lanes.length > 0 && lanes.every((l) => !/pid \d+/.test(l)), 'no "LLM calls · pid N" lanes');
    const one = byPid(7002)!;
    await page.selectOption('select[name=session]', one.id);
    await page.waitForFunction(
      (id) => new URL((globalThis as any).location.href).searchParams.get('session') === id,
      one.id,
    );
    await page.waitForFunction(
      (n) => (globalThis as any).document.querySelectorAll('svg.tl g.call-bar').length === n,
      one.calls,
    );
    t.pass(`the picked session's ${one.calls} calls only`);
    await noOverflow(t, 'timeline of a session');
    await shot('timeline-picked');
    await page.locator('svg.tl g.call-bar').first().click();
    await page.waitForFunction(() => new URL((globalThis as any).location.href).pathname === '/session');
    t.equal(new URL(page.url()).searchParams.get('id'), one.id, 'a click on a call opens its session');
  });

  await t.test('every other view at 1280 px', async (t) => {
    for (const v of ['timeline', 'processes', 'events']) {
      await page.goto(`${base}/${v}`);
      await page.waitForSelector('main > *');
      await page.waitForTimeout(300);
      await noOverflow(t, v);
    }
  });

  t.test('no script errors', async (t) => {
    t.same(errors, []);
  });
}
