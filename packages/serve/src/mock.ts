import type { AgentEvent, LlmCallEvent } from '@agentsight/events';

// A capture of one agent session, built from the event contract, for tests, the bench
// and demos while the capturing tools are written in parallel: an agent process talks to
// an Anthropic-style endpoint, the model asks for two shell commands, the agent runs them
// (process tree, files, a connection, stdout) and sends the results back.

export interface MockOptions {
  /** Wall-clock µs of the first event. */
  start: number;
  agentPid?: number;
  /** A credential that leaks into raw TLS plaintext and argv: must never be served. */
  secret?: string;
}

export interface MockSession {
  events: AgentEvent[];
  /** Facts the tests look for in the UI and API. */
  facts: {
    agentPid: number;
    userPrompt: string;
    answerText: string;
    toolName: string;
    toolCommand: string;
    toolPid: number;
    toolExitCode: number;
    failingCommand: string;
    failingPid: number;
    failingExitCode: number;
    secret: string;
    callIds: string[];
    end: number;
  };
}

export function mockSession(o: MockOptions): MockSession {
  const agent = o.agentPid ?? 4100;
  const secret = o.secret ?? 'sk-ant-api03-Zq9TESTSECRETx7Kp2mWvL4nR8sYb6cJd';
  const ev: AgentEvent[] = [];
  let t = o.start;
  const at = (dtMs: number) => (t += Math.round(dtMs * 1000));
  const base = (pid: number, comm: string) => ({ v: 1 as const, ts: t, pid, tid: pid, comm });
  const push = (e: Record<string, unknown>) => ev.push(e as unknown as AgentEvent);
  const conn = `${agent}:0x7f1c2a00`;
  const userPrompt = 'How many lines does README.md have? Then run the test suite.';
  const toolCommand = 'wc -l README.md';
  const failingCommand = 'python3 -m pytest -q tests';
  const answerText =
    'README.md has **42 lines**.\n\nThe test suite fails:\n\n```\n1 failed, 3 passed\n```\n\n- `test_parse` expects a trailing newline';
  const metrics = (pid: number, comm: string, cpu: number, rss: number) =>
    push({ ...base(pid, comm), src: 'proc', type: 'metrics', cpu_pct: cpu, rss_kb: rss, threads: 7 });

  push({ v: 1, ts: t, src: 'meta', type: 'start', tool: 'mock' });
  push({
    ...base(agent, 'node'),
    src: 'proc',
    type: 'snapshot',
    ppid: 1,
    uid: 1000,
    filename: '/usr/bin/node',
    argv: ['node', 'agent.js', '--task', 'readme'],
    cwd: '/home/dev/project',
    start_ts: t - 2_000_000,
  });
  metrics(agent, 'node', 3.5, 88_000);
  at(5);
  // The agent's socket to the API: fd 21, which its TLS events, HTTP messages and calls name.
  const fd = 21;
  push({
    ...base(agent, 'node'),
    src: 'proc',
    type: 'connect',
    family: 'inet',
    addr: '127.0.0.1',
    port: 8443,
    ret: 0,
    fd,
  });

  const tools = [
    {
      name: 'bash',
      description: 'Run a shell command',
      input_schema: { type: 'object', properties: { command: { type: 'string' } } },
    },
  ];
  const callIds: string[] = [];
  let n = 0;
  const llmCall = (
    messages: unknown[],
    text: string,
    toolCalls: Array<{ id: string; name: string; arguments: unknown }>,
    finish: string,
    inTok: number,
    outTok: number,
  ) => {
    const start = at(10);
    const req = `${conn}#${n}`;
    n++;
    // What the agent wrote on the wire: the raw key is in it; as-http would redact, as-serve must too.
    const raw = `POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: ${secret}\r\nAuthorization: Bearer ${secret}\r\ncontent-type: application/json\r\n\r\n`;
    push({
      ...base(agent, 'node'),
      src: 'ssl',
      type: 'data',
      conn,
      dir: 'write',
      seq: n * 2,
      len: raw.length,
      data: raw,
      enc: 'utf8',
      lib: 'openssl',
      fd,
    });
    push({
      ...base(agent, 'node'),
      src: 'http',
      type: 'request',
      conn,
      id: req,
      method: 'POST',
      path: '/v1/messages',
      host: 'api.anthropic.com',
      headers: { 'x-api-key': secret, 'content-type': 'application/json' },
      body_size: 900,
      start_ts: start,
      protocol: 'HTTP/1.1',
    });
    at(420);
    const ttft = 420;
    const id = `llm-${req}`;
    callIds.push(id);
    for (const piece of text.match(/[\s\S]{1,24}/g) ?? []) {
      push({ ...base(agent, 'node'), src: 'llm', type: 'delta', id, kind: 'text', text: piece, conn });
      at(15);
    }
    push({
      ...base(agent, 'node'),
      src: 'http',
      type: 'response',
      conn,
      req,
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body_size: 0,
      latency_ms: (t - start) / 1000,
      start_ts: start,
      sse_count: 12,
    });
    const call: LlmCallEvent = {
      ...base(agent, 'node'),
      src: 'llm',
      type: 'call',
      id,
      provider: 'anthropic',
      api: 'anthropic.messages',
      model: 'claude-sonnet-4-20250514',
      request: {
        system: 'You are a careful coding agent. Use the bash tool.',
        messages: messages.slice(),
        tools,
        params: { max_tokens: 1024 },
        stream: true,
      },
      response: {
        id: `msg_0${n}`,
        text,
        thinking: n === 1 ? 'The user wants a line count first; wc -l is the simplest tool.' : null,
        tool_calls: toolCalls,
        finish_reason: finish,
      },
      usage: { input_tokens: inTok, output_tokens: outTok, cache_read_input_tokens: 0 },
      status: 200,
      timing: { start, ttft_ms: ttft, duration_ms: (t - start) / 1000 },
      conn,
      fd,
      host: 'api.anthropic.com',
      req,
    };
    push(call as unknown as Record<string, unknown>);
    metrics(agent, 'node', 12.5 + n, 90_000 + n * 4000);
    return call;
  };

  const runTool = (
    pid: number,
    command: string,
    exit: number,
    stdout: string,
    touched: string[],
    connect?: [string, number, number],
  ) => {
    at(30);
    const sh = pid;
    const child = pid + 1;
    const start = t;
    push({ ...base(sh, 'node'), src: 'proc', type: 'fork', ppid: agent });
    at(1);
    push({
      ...base(sh, 'sh'),
      src: 'proc',
      type: 'exec',
      ppid: agent,
      uid: 1000,
      filename: '/bin/sh',
      argv: ['/bin/sh', '-c', command],
      cwd: '/home/dev/project',
    });
    at(2);
    push({ ...base(child, 'sh'), src: 'proc', type: 'fork', ppid: sh });
    const argv = command.split(' ');
    push({
      ...base(child, argv[0]!.slice(0, 15)),
      src: 'proc',
      type: 'exec',
      ppid: sh,
      uid: 1000,
      filename: `/usr/bin/${argv[0]}`,
      argv,
      cwd: '/home/dev/project',
    });
    for (const p of touched) {
      at(3);
      push({
        ...base(child, argv[0]!.slice(0, 15)),
        src: 'proc',
        type: 'open',
        path: p,
        flags: 0,
        ret: p.includes('missing') ? -2 : 3,
      });
    }
    if (connect)
      push({
        ...base(child, argv[0]!.slice(0, 15)),
        src: 'proc',
        type: 'connect',
        family: 'inet',
        addr: connect[0],
        port: connect[1],
        ret: connect[2],
      });
    at(5);
    metrics(child, argv[0]!.slice(0, 15), 55, 12_000);
    push({
      ...base(child, argv[0]!.slice(0, 15)),
      src: 'stdio',
      type: 'data',
      fd: 1,
      dir: 'write',
      seq: 0,
      len: stdout.length,
      data: stdout,
      enc: 'utf8',
    });
    at(40);
    push({
      ...base(child, argv[0]!.slice(0, 15)),
      src: 'proc',
      type: 'exit',
      exit_code: exit,
      duration_ms: (t - start) / 1000,
      ppid: sh,
    });
    at(1);
    push({
      ...base(sh, 'sh'),
      src: 'proc',
      type: 'exit',
      exit_code: exit,
      duration_ms: (t - start) / 1000,
      ppid: agent,
    });
  };

  const msgs: unknown[] = [{ role: 'user', content: userPrompt }];
  const toolPid = agent + 100;
  const failingPid = agent + 200;
  const c1 = llmCall(
    msgs,
    "I'll count the lines first.",
    [{ id: 'toolu_01A', name: 'bash', arguments: { command: toolCommand } }],
    'tool_use',
    812,
    64,
  );
  runTool(toolPid, toolCommand, 0, '42 README.md\n', ['/etc/ld.so.cache', '/home/dev/project/README.md']);
  msgs.push({
    role: 'assistant',
    content: [
      { type: 'text', text: c1.response.text },
      { type: 'tool_use', id: 'toolu_01A', name: 'bash', input: { command: toolCommand } },
    ],
  });
  msgs.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01A', content: '42 README.md' }] });
  const c2 = llmCall(
    msgs,
    'Now the tests.',
    [{ id: 'toolu_02B', name: 'bash', arguments: { command: failingCommand } }],
    'tool_use',
    930,
    41,
  );
  runTool(
    failingPid,
    failingCommand,
    2,
    '1 failed, 3 passed in 0.12s\n',
    ['/home/dev/project/tests/test_parse.py', '/home/dev/project/missing.cfg'],
    ['10.0.0.5', 5432, -111],
  );
  msgs.push({
    role: 'assistant',
    content: [
      { type: 'text', text: c2.response.text },
      { type: 'tool_use', id: 'toolu_02B', name: 'bash', input: { command: failingCommand } },
    ],
  });
  msgs.push({
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: 'toolu_02B', content: '1 failed, 3 passed', is_error: true }],
  });
  llmCall(msgs, answerText, [], 'end_turn', 1011, 88);
  at(20);
  push({ v: 1, ts: t, src: 'meta', type: 'stop', tool: 'mock' });
  return {
    events: ev,
    facts: {
      agentPid: agent,
      userPrompt,
      answerText,
      toolName: 'bash',
      toolCommand,
      toolPid,
      toolExitCode: 0,
      failingCommand,
      failingPid,
      failingExitCode: 2,
      secret,
      callIds,
      end: t,
    },
  };
}

/**
 * A large capture for the bench: `sessions` mock sessions padded with the bulk a real
 * capture is mostly made of (file opens and metrics samples), `total` events in all.
 */
export function* bulkCapture(total: number, start: number): Generator<AgentEvent> {
  let t = start;
  let produced = 0;
  let s = 0;
  while (produced < total) {
    const m = mockSession({ start: t, agentPid: 10_000 + (s % 1000) * 300 });
    for (const e of m.events) {
      if (produced++ >= total) return;
      yield e;
    }
    t = m.facts.end;
    const pid = m.facts.toolPid + 1;
    // The padding's file opens are a tool's (a child of the agent): what search indexes as paths.
    if (produced++ >= total) return;
    yield {
      v: 1,
      ts: t,
      src: 'proc',
      type: 'fork',
      pid,
      tid: pid,
      ppid: m.facts.agentPid,
      comm: 'wc',
    } as AgentEvent;
    for (let i = 0; i < 2000 && produced < total; i++, produced++) {
      t += 250;
      yield (
        i % 10 === 0
          ? {
              v: 1,
              ts: t,
              src: 'proc',
              type: 'metrics',
              pid: m.facts.agentPid,
              tid: m.facts.agentPid,
              comm: 'node',
              cpu_pct: (i % 97) / 2,
              rss_kb: 90_000 + i,
              threads: 7,
            }
          : {
              v: 1,
              ts: t,
              src: 'proc',
              type: 'open',
              pid,
              tid: pid,
              comm: 'wc',
              path: `/home/dev/project/src/file${i % 500}.ts`,
              flags: 0,
              ret: 3,
            }
      ) as AgentEvent;
    }
    s++;
  }
}
