/**
 * Benchmark: how fast the mock answers, so tests and benchmarks of other tools know it is
 * not their bottleneck. Prints a short report. Run: node packages/mock-llm/dist/mock-llm.bench.js
 */

import fs from 'node:fs';
import https from 'node:https';
import { startMockLlm } from './server.js';

function request(agent: https.Agent, port: number, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => {
          n += d.length;
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function bench(name: string, n: number, fn: () => Promise<number>): Promise<void> {
  for (let i = 0; i < 20; i++) await fn();
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += await fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stdout.write(
    `${name.padEnd(52)} ${(n / s).toFixed(0).padStart(6)} req/s  ${(bytes / s / 1e6).toFixed(1).padStart(6)} MB/s  ${((s / n) * 1e3).toFixed(2)} ms/req\n`,
  );
}

const mock = await startMockLlm({ script: () => ({ text: 'x'.repeat(1024), chunkSize: 16 }) });
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: fs.readFileSync(mock.caPath) });
const chat = JSON.stringify({ model: 'gpt-b', messages: [{ role: 'user', content: 'hi' }] });
const anth = JSON.stringify({
  model: 'claude-b',
  max_tokens: 10,
  stream: true,
  messages: [{ role: 'user', content: 'hi' }],
});
process.stdout.write(`mock-llm over HTTPS, one keep-alive connection, sequential requests (Node ${process.version})\n`);
await bench('Chat JSON, 1 KiB text', 2000, () => request(agent, mock.port, '/v1/chat/completions', chat));
await bench('Anthropic SSE, 1 KiB text in 64 deltas (~70 events)', 1000, () =>
  request(agent, mock.port, '/v1/messages', anth),
);
const big = new URL('../../../../shared/corpus/llm-streams/openai-chat/text-usage.http', import.meta.url);
if (fs.existsSync(big)) {
  const file = big.pathname;
  await bench(`replay of ${fs.statSync(file).size} B recording (openai-chat/text-usage)`, 1000, () => {
    mock.replay(file);
    return request(agent, mock.port, '/v1/chat/completions', chat);
  });
}
agent.destroy();
await mock.close();
