import type { AgentEvent, McpCallEvent, McpNotificationEvent, StdioDataEvent } from '@agentsight/events';
import { encodePayload } from '@agentsight/events';
import t from 'tap';
import { classify, parseRpc } from './jsonrpc.js';
import { McpTracker } from './tracker.js';

function stdio(pid: number, fd: 0 | 1, seq: number, bytes: Buffer, ts = 1000 + seq): StdioDataEvent {
  return {
    v: 1,
    ts,
    src: 'stdio',
    type: 'data',
    pid,
    comm: 'mcp-server',
    fd,
    dir: fd === 0 ? 'read' : 'write',
    seq,
    len: bytes.length,
    ...encodePayload(bytes),
  };
}

/** Feed `text` on (pid, fd) as events split at the given byte offsets. */
function feed(tr: McpTracker, pid: number, fd: 0 | 1, text: string, cuts: number[], seq0: number, ts: number): number {
  const b = Buffer.from(text);
  const at = [0, ...cuts.filter((c) => c > 0 && c < b.length), b.length];
  let seq = seq0;
  for (let i = 0; i + 1 < at.length; i++) tr.stdio(stdio(pid, fd, seq++, b.subarray(at[i]!, at[i + 1]!), ts));
  return seq;
}

const line = (o: object) => JSON.stringify(o) + '\n';

t.test(
  'stdio: requests paired with responses by id, lines split anywhere (mid UTF-8), notifications both ways',
  async (t) => {
    const out: AgentEvent[] = [];
    const tr = new McpTracker({}, (e) => out.push(e));
    const req = line({
      jsonrpc: '2.0',
      id: 'a-1',
      method: 'tools/call',
      params: { name: 'grep', arguments: { pattern: 'héllo 😀' } },
    });
    const note = line({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9 } });
    const res = line({ jsonrpc: '2.0', id: 'a-1', result: { content: [{ type: 'text', text: 'naïve 中文' }] } });
    // Cut inside every byte of the 4-byte 😀, and the response inside 中.
    const emoji = Buffer.from(req).indexOf(Buffer.from('😀'));
    t.ok(emoji > 0);
    feed(tr, 42, 0, req + note, [1, 17, emoji + 1, emoji + 2, emoji + 3, req.length + 3], 0, 1_000_000);
    const cutMid = Buffer.from(res).indexOf(Buffer.from('中')) + 1;
    feed(
      tr,
      42,
      1,
      line({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info' } }) + res,
      [5, cutMid + 40, cutMid + 41],
      0,
      1_250_000,
    );
    tr.end();
    const calls = out.filter((e): e is McpCallEvent => e.type === 'call');
    const notes = out.filter((e): e is McpNotificationEvent => e.type === 'notification');
    t.equal(calls.length, 1);
    t.match(calls[0], {
      transport: 'stdio',
      channel: '42',
      rpc_id: 'a-1',
      method: 'tools/call',
      tool: 'grep',
      pid: 42,
      comm: 'mcp-server',
      start_ts: 1_000_000,
      ts: 1_250_000,
      duration_ms: 250,
    });
    t.same(calls[0]!.params, { name: 'grep', arguments: { pattern: 'héllo 😀' } });
    t.same(calls[0]!.result, { content: [{ type: 'text', text: 'naïve 中文' }] });
    t.same(
      notes.map((n) => [n.method, n.dir]),
      [
        ['notifications/cancelled', 'client'],
        ['notifications/message', 'server'],
      ],
    );
  },
);

t.test('server-to-client requests (sampling) pair with the client reply; errors; batches', async (t) => {
  const out: AgentEvent[] = [];
  const tr = new McpTracker({}, (e) => out.push(e));
  let sIn = 0;
  let sOut = 0;
  sOut = feed(
    tr,
    5,
    1,
    line({ jsonrpc: '2.0', id: 0, method: 'sampling/createMessage', params: { maxTokens: 5 } }),
    [],
    sOut,
    10,
  );
  sIn = feed(tr, 5, 0, line({ jsonrpc: '2.0', id: 0, result: { role: 'assistant' } }), [], sIn, 20);
  sIn = feed(
    tr,
    5,
    0,
    line([
      { jsonrpc: '2.0', id: 0, method: 'tools/list' },
      { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'file:///x' } },
    ]),
    [],
    sIn,
    30,
  );
  sOut = feed(
    tr,
    5,
    1,
    line([
      { jsonrpc: '2.0', id: 1, error: { code: -32002, message: 'Resource not found' } },
      { jsonrpc: '2.0', id: 0, result: { tools: [] } },
    ]),
    [],
    sOut,
    40,
  );
  tr.end();
  const calls = out.filter((e): e is McpCallEvent => e.type === 'call');
  t.same(
    calls.map((c) => [c.method, c.rpc_id, c.from ?? 'client']),
    [
      ['sampling/createMessage', 0, 'server'],
      ['resources/read', 1, 'client'],
      ['tools/list', 0, 'client'],
    ],
  );
  t.same(calls[1]!.error, { code: -32002, message: 'Resource not found' });
  t.equal(calls[1]!.result, undefined);
});

t.test('non-JSON-RPC output, other fds, lost data and unanswered requests', async (t) => {
  const out: AgentEvent[] = [];
  const tr = new McpTracker({}, (e) => out.push(e));
  // An agent's own stdout: JSON, but not JSON-RPC; and stderr.
  tr.stdio(stdio(9, 1, 0, Buffer.from('{"type":"result","text":"hi"}\nplain text\n')));
  tr.stdio({ ...stdio(9, 1, 0, Buffer.from(line({ jsonrpc: '2.0', method: 'x' }))), fd: 2 });
  t.equal(out.length, 0);
  // A gap (seq 1 lost) inside a line: the broken line is dropped, the next one is read.
  tr.stdio(stdio(8, 0, 0, Buffer.from('{"jsonrpc":"2.0","id":1,"meth')));
  tr.stdio(stdio(8, 0, 2, Buffer.from('od":"ping"}\n' + line({ jsonrpc: '2.0', id: 2, method: 'ping' }))));
  tr.end();
  const calls = out.filter((e): e is McpCallEvent => e.type === 'call');
  t.same(
    calls.map((c) => [c.rpc_id, c.incomplete]),
    [[2, 'no response before end of input']],
    'only the intact request, reported unanswered',
  );
});

t.test('bounded pending requests', async (t) => {
  const out: AgentEvent[] = [];
  const tr = new McpTracker({ maxPending: 5 }, (e) => out.push(e));
  for (let i = 0; i < 20; i++)
    tr.message(
      { transport: 'stdio', channel: '1', scope: 's' },
      'client',
      { kind: 'request', id: i, method: 'ping' },
      i,
    );
  t.equal(tr.pending, 5);
  t.equal(out.length, 15);
  t.match(out[0], { rpc_id: 0, incomplete: /evicted/ });
});

t.test('JSON-RPC classification', async (t) => {
  t.same(classify({ jsonrpc: '2.0', id: 1, method: 'm' }), { kind: 'request', id: 1, method: 'm' });
  t.same(classify({ jsonrpc: '2.0', method: 'n', params: [] }), { kind: 'notification', method: 'n', params: [] });
  t.same(classify({ jsonrpc: '2.0', id: null, error: { code: -32700 } }), {
    kind: 'response',
    id: null,
    error: { code: -32700 },
  });
  t.equal(classify({ jsonrpc: '1.0', id: 1, method: 'm' }), null);
  t.equal(classify({ jsonrpc: '2.0', id: {}, method: 'm' }), null);
  t.same(parseRpc('not json'), []);
  t.same(parseRpc('[1, {"jsonrpc":"2.0","method":"a"}]'), [{ kind: 'notification', method: 'a' }]);
});
