// The assertions every traced run of the scripted SESSION must pass, whoever traced it
// (the standalone tools in e2e-agents, `agentsight exec` in e2e-exec-agents).
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { SESSION, type TracedSession, treeOf } from './agents.js';

const { note: NOTE, final: FINAL } = SESSION;

/** What the API's request body calls its conversation. */
function conversation(api: string, json: any): unknown[] | undefined {
  if (api === 'gemini') return json?.contents;
  if (api === 'openai.responses') return typeof json?.input === 'string' ? [json.input] : json?.input;
  return json?.messages;
}

const O_ACCMODE = 3;

/** Everything the E2E tests require of a traced session of SESSION (see the test files). */
export function checkSession(t: Test, s: TracedSession): void {
  const { agent } = s;
  t.comment(
    `${agent.name}: agent ${s.ms.agent} ms (session ${s.ms.total} ms), ${s.ssl.length} ssl, ${s.proc.length} proc events`,
  );
  t.equal(s.exitCode, 0, `agent exit 0; stderr: ${s.stderr.trim().slice(-400)}`);
  t.match(s.stdout, FINAL, 'the agent printed the final answer');
  t.same(s.procInvalid, [], 'as-proc: every line a valid event');
  t.match(s.sslStderr, /\(100% of/, `as-sslsniff lost nothing: ${s.sslStderr.trim().split('\n').pop()}`);
  t.ok(
    s.ssl.some((e) => e.type === 'attach'),
    'as-sslsniff attached',
  );

  // The LLM calls: one per model call the mock answered, each with what was sent both ways.
  const modelReqs = s.requests.filter((r) => r.api);
  t.equal(s.served.length, modelReqs.length, 'the script answered every model call');
  t.ok(
    s.served.filter((x) => !x.aside).length >= 3,
    `the conversation used the scripted turns (${s.served.length} model calls)`,
  );
  const calls = s.merged
    .filter((e) => e.src === 'llm' && e.type === 'call')
    .sort((a, b) => a.timing.start - b.timing.start);
  t.equal(calls.length, s.served.length, `one llm/call per model call (${calls.length})`);
  calls.forEach((c, i) => {
    const sv = s.served[i];
    if (!sv) return;
    const { req, reply } = sv;
    const what = `call ${i}${sv.aside ? ' (aside)' : ''}`;
    if (agent.tlsInChild)
      t.ok(c.pid !== s.pid && treeOf(s.pid, s.proc).has(c.pid), `${what}: a child of the agent (${c.pid})`);
    else t.equal(c.pid, s.pid, `${what}: the agent's pid`);
    t.equal(c.api, agent.api, `${what}: api`);
    // Over WebSocket every call is answered on the upgraded connection.
    t.equal(c.status, agent.websocket ? 101 : 200, `${what}: status`);
    t.equal(c.incomplete, undefined, `${what}: complete`);
    t.equal(c.model, reply.model ?? req.model, `${what}: model`);
    t.equal(c.request.stream, req.stream, `${what}: stream`);
    t.equal(c.response.text, reply.text ?? '', `${what}: text`);
    t.same(
      c.response.tool_calls.map((x: any) => ({ name: x.name, arguments: x.arguments })),
      (reply.toolCalls ?? []).map((x) => ({ name: x.name, arguments: x.arguments })),
      `${what}: tool calls`,
    );
    t.equal(c.usage.input_tokens, reply.usage?.input_tokens, `${what}: input tokens`);
    t.equal(c.usage.output_tokens, reply.usage?.output_tokens, `${what}: output tokens`);
    t.same(
      c.request.messages,
      conversation(agent.api, req.json),
      `${what}: the conversation the agent sent, as the server received it`,
    );
  });
  // The socket under each model call, and the connect that opened it (same pid and fd): the
  // calls carry it from the TLS events through as-http and as-merge.
  if (agent.socketFd) {
    t.ok(
      calls.every((c) => Number.isInteger(c.fd) && c.fd >= 0),
      `every model call names its socket fd (${calls.map((c) => c.fd)})`,
    );
    const socks = [...new Set(calls.map((c) => `${c.pid}/${c.fd}`))];
    const connects = s.proc.filter((e) => e.type === 'connect' && (e.family === 'inet' || e.family === 'inet6'));
    const unmatched = socks.filter((k) => !connects.some((c) => `${c.pid}/${c.fd}` === k));
    t.same(unmatched, [], `each call's (pid, fd) has the proc connect that opened it (${socks.length} sockets)`);
  }
  // The shell tool's output travelled back to the model in the next request.
  const afterShell = calls.find((c) =>
    JSON.stringify(c.request.messages ?? []).includes("cannot access '/nonexistent-agentsight'"),
  );
  t.ok(afterShell, 'a captured request carries the shell tool result back to the model');

  // Processes: the tool's commands, inside the agent's tree, with argv and exit code.
  const mine = treeOf(s.pid, s.proc);
  const execs = s.proc.filter((e) => e.type === 'exec' && mine.has(e.pid));
  const exits = new Map(s.proc.filter((e) => e.type === 'exit').map((e) => [e.pid, e]));
  const shell = execs.find((e) => e.argv.join(' ').includes('wc -c e2e-shell.txt') && /sh$/.test(e.comm));
  t.ok(shell, `the shell the tool ran, with the command in its argv: ${JSON.stringify(shell?.argv)?.slice(0, 200)}`);
  const wc = execs.find((e) => JSON.stringify(e.argv) === JSON.stringify(['wc', '-c', 'e2e-shell.txt']));
  const ls = execs.find((e) => JSON.stringify(e.argv) === JSON.stringify(['ls', '/nonexistent-agentsight']));
  t.ok(wc, 'exec wc -c e2e-shell.txt');
  t.ok(ls, 'exec ls /nonexistent-agentsight');
  t.equal(wc && exits.get(wc.pid)?.exit_code, 0, 'wc exit 0');
  t.equal(ls && exits.get(ls.pid)?.exit_code, 2, 'ls exit 2');
  t.equal(wc?.cwd, s.cwd, "wc ran in the agent's working directory");

  // Files written: by the shell (redirect) and by the agent's own file tool.
  const writes = (file: string) =>
    s.proc.filter(
      (e) =>
        mine.has(e.pid) &&
        ((e.type === 'open' && e.path === file && (e.flags & O_ACCMODE) !== 0 && e.ret >= 0) ||
          (e.type === 'rename' && e.to === file && e.ret === 0)),
    );
  const shellFile = path.join(s.cwd, 'e2e-shell.txt');
  const noteFile = path.join(s.cwd, 'e2e-write.txt');
  t.ok(writes(shellFile).length, `open for writing of ${shellFile}`);
  const w = writes(noteFile);
  t.ok(w.length, `the file tool's write of ${noteFile}: ${JSON.stringify(w[0])?.slice(0, 200)}`);
  t.equal(fs.readFileSync(noteFile, 'utf8'), NOTE, 'the note on disk');
}
