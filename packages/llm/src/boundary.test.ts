// Provider wire formats are read in this package only: every other package reads the
// normalized call (call.ts). This fails when a provider-only field name shows up in another
// package's source, so a new parser elsewhere is caught here and not in review.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Names only a provider's request or response uses (the event schema's own are allowed). */
const PROVIDER_ONLY: RegExp[] = [
  // Anthropic
  /\btool_use_id\b/,
  /['"]tool_use['"]/,
  /\bcache_creation_input_tokens\b/,
  /\bcache_read_input_tokens\b/,
  /\banthropic_version\b/,
  // OpenAI Chat and Responses
  /\btool_call_id\b/,
  /\bprompt_tokens\b/,
  /\bcompletion_tokens\b/,
  /\bchoices\s*\[/,
  /\.choices\b/,
  /\bfunction_call_output\b/,
  /['"]function_call['"]/,
  /\bcustom_tool_call/,
  // Gemini
  /\busageMetadata\b/,
  /\bfunctionResponse\b/,
  /\bfunctionCall\b/,
  /\.candidates\b/,
  /\bpromptTokenCount\b/,
  /\bcandidatesTokenCount\b/,
  /\bthoughtsTokenCount\b/,
  /\bgenerationConfig\b/,
  /\bsystemInstruction\b/,
  /\brole\s*===?\s*['"]model['"]/,
];

/** Packages that may: this one, the mock server that speaks the APIs, the event schema. */
const OWNERS = new Set(['llm', 'mock-llm', 'events']);
/** Files that write provider shapes to make synthetic captures, not to read them. */
const PRODUCERS = new Set(['packages/serve/src/mock.ts', 'packages/trace/src/testing.ts']);

function sources(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'fixtures' && e.name !== 'node_modules') sources(p, out);
    } else if (/\.ts$/.test(e.name) && !/\.(test|bench)\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

t.test('no provider format is parsed outside packages/llm', async (t) => {
  const files = [
    ...fs
      .readdirSync(path.join(ROOT, 'packages'))
      .filter((d) => !OWNERS.has(d) && fs.existsSync(path.join(ROOT, 'packages', d, 'src')))
      .flatMap((d) => sources(path.join(ROOT, 'packages', d, 'src'))),
    ...sources(path.join(ROOT, 'tools')),
  ].filter((f) => !PRODUCERS.has(path.relative(ROOT, f)));
  t.ok(files.length > 50, `${files.length} source files scanned`);
  const found: string[] = [];
  for (const f of files) {
    fs.readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        for (const re of PROVIDER_ONLY)
          if (re.test(line)) found.push(`${path.relative(ROOT, f)}:${i + 1}: ${re.source}`);
      });
  }
  t.same(
    found,
    [],
    'read the normalized call from @agentsight/llm instead (callOf, messagesOf, usageOf, toolResultsOf)',
  );
});
