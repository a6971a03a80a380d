// Which provider serves a host, and its name in the OpenTelemetry GenAI conventions: the one
// table every consumer maps hosts and providers through. A new OpenAI-compatible provider is
// one row here (its API shape is recognised by the request path, see detect.ts).
export interface ProviderRow {
  /** The name `llm`/`call` events carry in `provider`. */
  name: string;
  /** Host names it serves (port and brackets removed, lower case). */
  host: RegExp;
  /** `gen_ai.provider.name` when the conventions have a well-known value for it. */
  otel?: string;
}

/** First match wins; more specific first. */
export const PROVIDERS: readonly ProviderRow[] = [
  { name: 'anthropic', host: /(^|\.)anthropic\.com$/, otel: 'anthropic' },
  {
    name: 'azure',
    host: /(^|\.)openai\.azure\.com$|(^|\.)cognitiveservices\.azure\.com$|(^|\.)services\.ai\.azure\.com$/,
    otel: 'azure.ai.openai',
  },
  { name: 'openai', host: /(^|\.)openai\.com$/, otel: 'openai' },
  { name: 'deepseek', host: /(^|\.)deepseek\.com$/, otel: 'deepseek' },
  { name: 'groq', host: /(^|\.)groq\.com$/, otel: 'groq' },
  { name: 'xai', host: /(^|\.)x\.ai$/, otel: 'x_ai' },
  { name: 'openrouter', host: /(^|\.)openrouter\.ai$/ },
  { name: 'qwen', host: /(^|\.)(dashscope(-intl)?\.aliyuncs\.com)$/ },
  { name: 'mistral', host: /(^|\.)mistral\.ai$/, otel: 'mistral_ai' },
  { name: 'together', host: /(^|\.)together\.(xyz|ai)$/ },
  { name: 'fireworks', host: /(^|\.)fireworks\.ai$/ },
  { name: 'moonshot', host: /(^|\.)moonshot\.(cn|ai)$/ },
  { name: 'cerebras', host: /(^|\.)cerebras\.ai$/ },
  { name: 'perplexity', host: /(^|\.)perplexity\.ai$/, otel: 'perplexity' },
  { name: 'google-code-assist', host: /^cloudcode-pa\.googleapis\.com$/, otel: 'gcp.gen_ai' },
  { name: 'vertex', host: /(^|[.-])aiplatform\.googleapis\.com$/, otel: 'gcp.vertex_ai' },
  { name: 'google', host: /(^|\.)generativelanguage\.googleapis\.com$/, otel: 'gcp.gemini' },
  { name: 'bedrock', host: /(^|\.)bedrock-runtime\..*amazonaws\.com$/, otel: 'aws.bedrock' },
  { name: 'cohere', host: /(^|\.)cohere\.(com|ai)$/, otel: 'cohere' },
];

/** Ollama's default port: a local server speaking the OpenAI API. */
const OLLAMA_PORT = /:11434$/;

/** Names other producers use for the same providers (OTel's own spellings among them). */
const ALIASES: Record<string, string> = { gemini: 'google', vertex_ai: 'vertex', mistral_ai: 'mistral', x_ai: 'xai' };

/** The table's provider for a host (`host`, `host:port`, `[v6]:port`), or null when no row
 * names it (then the API module's own `provider` serves it). */
export function providerOfHost(host: string | undefined): string | null {
  const h = (host ?? '')
    .toLowerCase()
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '');
  for (const row of PROVIDERS) if (row.host.test(h)) return row.name;
  if (OLLAMA_PORT.test(host ?? '')) return 'ollama';
  return null;
}

/**
 * `gen_ai.provider.name` for a call: the host's provider when the table knows the host (an
 * Azure deployment of an OpenAI model is Azure), else the event's provider.
 */
export function otelProviderName(provider: string, host?: string): string {
  const p = providerOfHost(host) ?? ALIASES[provider.toLowerCase()] ?? provider.toLowerCase();
  const row = PROVIDERS.find((r) => r.name === p);
  if (row) return row.otel ?? row.name;
  return p || '_OTHER';
}
