// The User-Agents packages/agents recognises SDK scripts by, checked against what the
// official SDKs really send: each SDK calls the mock LLM (plain HTTP: only the headers
// matter here) and the request it made is classified.
import { classifyByTraffic } from '@agentsight/agents';
import { startMockLlm } from '@agentsight/mock-llm';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';

t.test('the official node SDKs are recognised by the User-Agent they send', async (t) => {
  const mock = await startMockLlm({ tls: false, script: () => ({ text: 'ok' }) });
  t.teardown(() => mock.close());
  await new Anthropic({ apiKey: 'sk-ant-x', baseURL: mock.url, maxRetries: 0 }).messages.create({
    model: 'claude-sonnet-4-5',
    max_tokens: 16,
    messages: [{ role: 'user', content: 'hi' }],
  });
  await new OpenAI({ apiKey: 'sk-x', baseURL: `${mock.url}/v1`, maxRetries: 0 }).chat.completions.create({
    model: 'gpt-5',
    messages: [{ role: 'user', content: 'hi' }],
  });
  const [a, o] = mock.requests;
  t.equal(
    classifyByTraffic({ headers: a!.headers, provider: 'anthropic' })?.id,
    'anthropic-sdk-node',
    a!.headers['user-agent'],
  );
  t.equal(
    classifyByTraffic({ headers: o!.headers, provider: 'openai' })?.id,
    'openai-sdk-node',
    o!.headers['user-agent'],
  );
});
