// A real MCP server (the official SDK, over stdio) driven by the SDK's own client, under
// as-stdiocap: the server's stdin/stdout as captured by the kernel must be exactly the
// JSON-RPC messages the client sent and received, and as-merge must pair them.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type AgentEvent,
  decodePayload,
  type McpCallEvent,
  type StdioDataEvent,
  validateEvent,
} from '@agentsight/events';
import t from 'tap';
import { kernelSkipReason, ROOT, runTool } from './proc-harness.js';

const skip = kernelSkipReason(['stdiocap.bpf.o']);
const CLIENT = path.join(ROOT, 'dist/test/mcp/client.js');

interface ClientLog {
  serverPid: number;
  sent: unknown[];
  received: unknown[];
  rawIn: string | null;
  tools: string[];
  blobLength: number;
}

const frame = (msgs: unknown[]) => Buffer.from(msgs.map((m) => JSON.stringify(m) + '\n').join(''), 'utf8');
const stream = (evs: StdioDataEvent[], pid: number, fd: number, dir: string) => {
  const s = evs.filter((e) => e.pid === pid && e.fd === fd && e.dir === dir).sort((a, b) => a.seq - b.seq);
  return {
    seqs: s.map((e) => e.seq),
    bytes: Buffer.concat(s.map((e) => decodePayload(e))),
    truncated: s.some((e) => e.truncated),
  };
};

t.test(
  'MCP over stdio: byte-exact capture and as-merge pairing',
  { skip: skip ?? false, timeout: 90_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asmcp-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const log = path.join(dir, 'client.json');
    const capture = path.join(dir, 'stdio.ndjson');
    const r = await runTool(
      'as-stdiocap',
      ['-q', '-o', capture, '--cmd', '--', process.execPath, CLIENT, log, '300000'],
      { timeoutMs: 60_000 },
    );
    t.equal(r.code, 0, `as-stdiocap exit (stderr: ${r.stderr.trim()})`);
    const client = JSON.parse(fs.readFileSync(log, 'utf8')) as ClientLog;
    t.same(client.tools, ['add', 'blob'], 'the client saw the tools');
    t.equal(client.blobLength, 300000);

    const lines = fs
      .readFileSync(capture, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AgentEvent);
    t.same(lines.map(validateEvent).filter(Boolean), [], 'every line a valid event');
    t.equal(lines.filter((e) => e.type === 'lost').length, 0, 'nothing lost');
    const evs = lines.filter((e): e is StdioDataEvent => e.src === 'stdio' && e.type === 'data');

    const input = stream(evs, client.serverPid, 0, 'read');
    const output = stream(evs, client.serverPid, 1, 'write');
    t.same(
      input.seqs,
      input.seqs.map((_, i) => i),
      'read seqs consecutive from 0',
    );
    t.same(
      output.seqs,
      output.seqs.map((_, i) => i),
      'write seqs consecutive from 0',
    );
    t.notOk(input.truncated || output.truncated, 'no call truncated');
    t.ok(
      input.bytes.equals(frame(client.sent)),
      `server stdin is exactly what the client sent (${input.bytes.length} bytes)`,
    );
    if (client.rawIn === null)
      t.comment('SDK internals changed: raw client input not recorded; comparing parsed messages only');
    else
      t.ok(
        output.bytes.equals(Buffer.from(client.rawIn, 'base64')),
        `server stdout is exactly the bytes the client read (${output.bytes.length} bytes)`,
      );
    const outMsgs = output.bytes
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as unknown);
    t.same(outMsgs, client.received, 'and parses to the messages the client received');
    t.ok(output.bytes.length > 300000, 'including the large result');

    // as-merge pairs requests and responses into mcp/call events.
    const merged = spawnSync(process.execPath, [path.join(ROOT, 'dist/tools/as-merge.js'), capture], {
      encoding: 'utf8',
      timeout: 30_000,
      maxBuffer: 64 << 20,
    });
    t.equal(merged.status, 0, merged.stderr);
    const mcp = merged.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AgentEvent)
      .filter((e) => e.src === 'mcp');
    const calls = mcp.filter((e): e is McpCallEvent => e.type === 'call' && e.channel === String(client.serverPid));
    t.same(
      calls.map((c) => c.method),
      ['initialize', 'tools/list', 'tools/call', 'tools/call'],
    );
    const sentReq = client.sent.filter((m) => (m as { id?: unknown }).id !== undefined) as Array<{
      id: number;
      params?: unknown;
    }>;
    const results = client.received.filter((m) => (m as { result?: unknown }).result !== undefined) as Array<{
      id: number;
      result: unknown;
    }>;
    for (const c of calls) {
      const req = sentReq.find((m) => m.id === c.rpc_id);
      const res = results.find((m) => m.id === c.rpc_id);
      t.same(c.params, req?.params, `${c.method} #${c.rpc_id}: params as sent`);
      t.same(c.result, res?.result, `${c.method} #${c.rpc_id}: result as received`);
    }
    const add = calls.find((c) => c.tool === 'add');
    t.same((add?.result as { content: Array<{ text: string }> } | undefined)?.content[0]?.text, '42');
    t.ok(
      mcp.some((e) => e.type === 'notification' && (e as { method: string }).method === 'notifications/initialized'),
      'the initialized notification',
    );
  },
);
