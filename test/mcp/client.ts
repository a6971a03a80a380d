// Drives test/mcp/server.ts with the SDK's own client over stdio and records every
// JSON-RPC message it sent and received (and the server's pid) to the file named by argv[2].
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

const out = process.argv[2]!;
const blobSize = Number(process.argv[3] ?? 200000);
const serverJs = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.js');
const transport = new StdioClientTransport({ command: process.execPath, args: [serverJs], stderr: 'inherit' });

const sent: JSONRPCMessage[] = [];
const received: JSONRPCMessage[] = [];
const send = transport.send.bind(transport);
transport.send = async (m: JSONRPCMessage) => {
  sent.push(m);
  return send(m);
};
// The client installs its handler (chaining any handler already there) before start():
// hand it the plain slot, and record each message on the way to whatever it installed.
let raw: ((m: JSONRPCMessage, extra?: unknown) => void) | undefined;
const recording = (m: JSONRPCMessage, extra?: unknown) => {
  received.push(m);
  raw?.(m, extra);
};
Object.defineProperty(transport, 'onmessage', {
  configurable: true,
  get: () => (raw ? recording : undefined),
  set: (fn: typeof raw) => {
    raw = fn;
  },
});

// The exact bytes the client read from the server's stdout: the SDK re-creates each parsed
// message (schema validation), so re-serialising `received` need not give the wire bytes.
const rawIn: Buffer[] = [];
const readBuffer = (transport as unknown as { _readBuffer?: { append(chunk: Buffer): void } })._readBuffer;
if (readBuffer) {
  const append = readBuffer.append.bind(readBuffer);
  readBuffer.append = (chunk: Buffer) => {
    rawIn.push(Buffer.from(chunk));
    append(chunk);
  };
}

const client = new Client({ name: 'agentsight-test-client', version: '1.0.0' });
await client.connect(transport);
const tools = await client.listTools();
const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
const blob = await client.callTool({ name: 'blob', arguments: { n: blobSize } });
const serverPid = transport.pid;
await client.close();
fs.writeFileSync(
  out,
  JSON.stringify({
    serverPid,
    sent,
    received,
    rawIn: readBuffer ? Buffer.concat(rawIn).toString('base64') : null,
    tools: tools.tools.map((t) => t.name),
    sum,
    blobLength: (blob.content as Array<{ text: string }>)[0]!.text.length,
  }),
);
