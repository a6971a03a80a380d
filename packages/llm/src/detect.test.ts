import t from 'tap';
import { apiOfPath, detect } from './detect.js';
import { otelProviderName } from './providers.js';

t.test('API from the path, provider from the host', async (t) => {
  const cases: Array<[string, string | undefined, string | null, string | null]> = [
    ['/v1/messages', 'api.anthropic.com', 'anthropic.messages', 'anthropic'],
    ['/v1/messages?beta=true', 'api.anthropic.com', 'anthropic.messages', 'anthropic'],
    [
      '/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict',
      'us-east5-aiplatform.googleapis.com',
      'anthropic.messages',
      'vertex',
    ],
    ['/v1/chat/completions', 'api.openai.com', 'openai.chat', 'openai'],
    ['/openai/deployments/d/chat/completions?api-version=2024-10-21', 'r.openai.azure.com', 'openai.chat', 'azure'],
    ['/openai/v1/chat/completions', 'api.groq.com', 'openai.chat', 'groq'],
    ['/chat/completions', 'api.deepseek.com', 'openai.chat', 'deepseek'],
    ['/api/v1/chat/completions', 'openrouter.ai', 'openai.chat', 'openrouter'],
    ['/v1/chat/completions', 'localhost:11434', 'openai.chat', 'ollama'],
    ['/v1/chat/completions', '127.0.0.1:8443', 'openai.chat', 'openai'],
    ['/v1/responses', 'api.openai.com', 'openai.responses', 'openai'],
    [
      '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
      'generativelanguage.googleapis.com',
      'gemini',
      'google',
    ],
    [
      '/v1/projects/p/locations/global/publishers/google/models/gemini-3-pro:generateContent',
      'aiplatform.googleapis.com',
      'gemini',
      'vertex',
    ],
    ['/v1internal:streamGenerateContent?alt=sse', 'cloudcode-pa.googleapis.com', 'gemini', 'google-code-assist'],
    ['/v1/messages/count_tokens', 'api.anthropic.com', null, null],
    ['/v1/models', 'api.openai.com', null, null],
    ['/api/event_logging/batch', 'api.anthropic.com', null, null],
  ];
  for (const [path, host, api, provider] of cases) {
    const d = detect('POST', path, host, { model: 'm', messages: [] });
    t.equal(d?.module.api ?? null, api, `${host}${path}: api`);
    t.equal(d?.provider ?? null, provider, `${host}${path}: provider`);
  }
});

t.test('only POSTs, and REST look-alikes with other bodies are not model calls', async (t) => {
  t.equal(detect('GET', '/v1/messages', 'api.anthropic.com'), null);
  t.equal(detect('POST', '/gmail/v1/users/me/messages', 'gmail.googleapis.com', { raw: 'xyz' }), null);
  t.equal(detect('POST', '/v1/threads/t/messages', 'api.openai.com', { role: 'user', content: 'x' }), null);
  t.ok(detect('POST', '/v1/messages', 'proxy.internal', undefined), 'no body to look at: the path decides');
  t.equal(apiOfPath('/v1/responses/'), 'openai.responses', 'trailing slash');
});

t.test('gen_ai.provider.name from the same table', async (t) => {
  t.equal(otelProviderName('gemini', 'generativelanguage.googleapis.com'), 'gcp.gemini');
  t.equal(otelProviderName('openai', 'x.openai.azure.com'), 'azure.ai.openai', 'the host wins');
  t.equal(otelProviderName('mistral'), 'mistral_ai');
  t.equal(otelProviderName('google-code-assist', 'cloudcode-pa.googleapis.com'), 'gcp.gen_ai');
  t.equal(otelProviderName('openrouter', 'openrouter.ai'), 'openrouter', 'no well-known value: the table name');
  t.equal(otelProviderName('anthropic', '127.0.0.1:8443'), 'anthropic', 'an unknown host leaves the event provider');
});
