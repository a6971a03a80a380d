// MCP end to end, for real: a client (the official SDK) drives an MCP server over stdio whose
// `run` tool runs shell commands. Captured with as-stdiocap (the JSON-RPC on the server's
// stdin/stdout) and as-proc, then as-merge --correlate: each tools/call must link to exactly
// the processes the server ran for it. The truth is the server's k-th `/bin/sh -c CMD` child
// (the server runs one call at a time, in order) and everything under it.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent, McpCallEvent, ProcExecEvent, ProcForkEvent } from '@agentsight/events';
import { testing } from '@agentsight/trace';
import t from 'tap';
import { kernelSkipReason, ROOT, startTool } from './proc-harness.js';

const { links, linkPids, precisionRecall } = testing;
const SDK = path.join(ROOT, 'node_modules/@modelcontextprotocol/sdk/dist/esm');
const COMMANDS = ['ls -la', 'uname -sr; id -u', 'cat missing-input.txt || true'];

function skipReason(): string | null {
  const k = kernelSkipReason(['proc.bpf.o', 'stdiocap.bpf.o']);
  if (k) return k;
  for (const f of ['as-proc.js', 'as-stdiocap.js', 'as-merge.js']) {
    if (!fs.existsSync(path.join(ROOT, 'dist/tools', f))) return `dist/tools/${f} not built (make build)`;
  }
  if (!fs.existsSync(path.join(SDK, 'server/index.js'))) return '@modelcontextprotocol/sdk not installed';
  return null;
}

const SERVER = `
import { Server } from '${SDK}/server/index.js';
import { StdioServerTransport } from '${SDK}/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '${SDK}/types.js';
import { execFileSync } from 'node:child_process';
const server = new Server({ name: 'runner', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [{ name: 'run', description: 'Run a shell command',
  inputSchema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } }] }));
server.setRequestHandler(CallToolRequestSchema, async (req) => ({
  content: [{ type: 'text', text: execFileSync('/bin/sh', ['-c', String(req.params.arguments.command)], { encoding: 'utf8' }) }] }));
await server.connect(new StdioServerTransport());
`;

const CLIENT = `
import { Client } from '${SDK}/client/index.js';
import { StdioClientTransport } from '${SDK}/client/stdio.js';
const transport = new StdioClientTransport({ command: process.execPath, args: [process.argv[2]], stderr: 'inherit' });
const client = new Client({ name: 'driver', version: '1.0.0' });
await client.connect(transport);
await client.listTools();
for (const command of JSON.parse(process.argv[3])) await client.callTool({ name: 'run', arguments: { command } });
await client.close();
`;

const why = skipReason();
t.test(
  'MCP tools/call over stdio links to exactly the processes its server ran',
  { skip: why ? `MCP correlation E2E: ${why}` : false, timeout: 120_000 },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-correlate-mcp-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'server.mjs'), SERVER);
    fs.writeFileSync(path.join(dir, 'client.mjs'), CLIENT);
    // Gated: the shell becomes the client (same pid) once the captures are attached.
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        'read go; unset NODE_OPTIONS; exec "$0" "$@"',
        process.execPath,
        path.join(dir, 'client.mjs'),
        path.join(dir, 'server.mjs'),
        JSON.stringify(COMMANDS),
      ],
      {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    t.teardown(() => {
      child.kill('SIGKILL');
    });
    const proc = startTool('as-proc', ['--interval', '0', '-p', String(child.pid)], { timeoutMs: 100_000 });
    const stdio = startTool('as-stdiocap', ['-p', String(child.pid)], { timeoutMs: 100_000 });
    await proc.ready;
    await stdio.ready;
    child.stdin!.end('go\n');
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    t.equal(await exited, 0, `client exits 0: ${err.slice(-400)}`);
    clearTimeout(killer);
    await new Promise((r) => setTimeout(r, 300));
    const procRun = await proc.stop();
    const stdioRun = await stdio.stop();
    t.same([...procRun.invalid, ...stdioRun.invalid], [], 'captures valid');

    const all = [...procRun.events, ...stdioRun.events]
      .map((e, i) => ({ e, i }))
      .sort((x, y) => x.e.ts - y.e.ts || x.i - y.i)
      .map((x) => x.e);
    const capFile = path.join(dir, 'cap.ndjson');
    fs.writeFileSync(capFile, all.map((e) => JSON.stringify(e)).join('\n') + '\n');
    if (process.env.AS_KEEP_CAPTURE) fs.copyFileSync(capFile, process.env.AS_KEEP_CAPTURE);
    const merged = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const m = spawn(process.execPath, [path.join(ROOT, 'dist/tools/as-merge.js'), '--correlate', capFile], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let e = '';
      m.stdout.on('data', (d) => {
        out += d;
      });
      m.stderr.on('data', (d) => {
        e += d;
      });
      m.on('close', (code) => resolve({ code, out, err: e }));
    });
    t.equal(merged.code, 0, merged.err);
    const events = merged.out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AgentEvent);

    const procs = procRun.events.filter(
      (e): e is ProcExecEvent | ProcForkEvent => e.src === 'proc' && (e.type === 'exec' || e.type === 'fork'),
    );
    const server = procs.find((e): e is ProcExecEvent => e.type === 'exec' && (e.argv[1] ?? '').endsWith('server.mjs'));
    if (!t.ok(server, 'the kernel saw the server start')) return;
    const calls = events.filter(
      (e): e is McpCallEvent => e.src === 'mcp' && e.type === 'call' && e.method === 'tools/call',
    );
    t.same(
      calls.map((c) => c.channel),
      COMMANDS.map(() => String(server!.pid)),
      "as-merge paired every tools/call on the server's channel",
    );

    const parent = new Map<number, number>();
    for (const e of procs) parent.set(e.pid, e.ppid);
    const under = (pid: number, anc: number) => {
      for (let p: number | undefined = pid, i = 0; p && i < 64; p = parent.get(p), i++) if (p === anc) return true;
      return false;
    };
    const shells = procs.filter(
      (e): e is ProcExecEvent => e.type === 'exec' && e.ppid === server!.pid && e.argv[0] === '/bin/sh',
    );
    t.same(
      shells.map((s) => s.argv[2]),
      COMMANDS,
      'the server ran each command, in order',
    );
    const truth = new Map<string, number[]>();
    calls.forEach((c, k) => {
      const root = shells[k];
      if (root)
        truth.set(`mcp:${c.channel}:${c.rpc_id}`, [
          ...new Set(procs.filter((e) => under(e.pid, root.pid)).map((e) => e.pid)),
        ]);
    });
    const tp = links(events, 'tool_process');
    const pr = precisionRecall(tp, truth);
    t.comment(
      `MCP call -> process links: precision ${(pr.precision * 100).toFixed(1)}%, recall ${(pr.recall * 100).toFixed(1)}% (${pr.tp} right, ${pr.fp} wrong, ${pr.fn} missed)`,
    );
    t.equal(pr.precision, 1, 'precision 100%');
    t.equal(pr.recall, 1, 'recall 100%');
    for (const l of tp)
      t.ok(
        linkPids(l).every((p) => under(p, server!.pid)),
        `${l.from}: only the server's processes`,
      );
  },
);
