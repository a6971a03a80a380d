// Secrets by their shape, wherever they appear: the rules of secretlint's recommended preset
// (maintained upstream: AWS, GitHub, GitLab, Slack, OpenAI, Anthropic, Groq, Hugging Face,
// private keys, connection strings with passwords, …), run in-process on each text, plus the
// key shapes of the providers we trace that the preset does not know.
import { rules } from '@secretlint/secretlint-rule-preset-recommend';

export type Range = [start: number, end: number];

interface RuleContext {
  report(m: { message: string; range: readonly [number, number] }): void;
  ignore(m: unknown): void;
  createTranslator(messages: unknown): (id: string, data?: unknown) => string;
}
interface Source {
  content: string;
  filePath: string;
  ext: string;
  contentType: 'text';
  indexToPosition(i: number): { line: number; column: number };
}
interface Rule {
  meta: { id: string; supportedContentTypes?: string[] };
  create(ctx: RuleContext, options: Record<string, unknown>): { file?: (s: Source) => unknown };
}

// filter-comments honours `secretlint-disable` comments in source files: for a capture that
// would let the traffic itself switch redaction off.
const SKIP = new Set(['@secretlint/secretlint-rule-filter-comments']);

let found: Range[] = [];
const scanners = (rules as unknown as Rule[])
  .filter(
    (r) => !SKIP.has(r.meta.id) && (r.meta.supportedContentTypes ?? ['text']).some((t) => t === 'text' || t === 'all'),
  )
  .map(
    (r) =>
      r.create(
        {
          report: (m) => {
            found.push([m.range[0], m.range[1]]);
          },
          ignore: () => {},
          createTranslator: () => (id) => id,
        },
        {},
      ).file,
  )
  .filter((f): f is NonNullable<typeof f> => typeof f === 'function');

/** How many of the preset's rules run (for the tests: the preset is really in use). */
export const PRESET_RULES = scanners.length;

// Keys of providers agentsight traces that the preset has no rule for, or whose rule wants
// the exact current length (older and OpenAI-compatible keys are shorter): Gemini/Google API
// keys, `sk-…` keys of OpenAI-compatible servers, Tavily search keys, Bearer tokens in text.
// Each with the literal every match holds: a text without it skips the regex.
const PROVIDER_SHAPES: Array<[literal: string, shape: RegExp]> = [
  ['AIza', /\bAIza[0-9A-Za-z_-]{30,}/g],
  ['sk-', /\bsk-(?:ant-|proj-|svcacct-|admin-|or-v1-)?[A-Za-z0-9_-]{16,}/g],
  ['tvly-', /\btvly-(?:dev-|prod-)?[A-Za-z0-9_-]{16,}/g],
  ['Bearer', /\bBearer\s+([A-Za-z0-9._~+/=-]{12,})/g],
];

/** Can `text` hold a provider key shape? (Cheap: a substring test per shape.) */
export function mayHoldProviderKey(text: string): boolean {
  return PROVIDER_SHAPES.some(([literal]) => text.includes(literal));
}

const lineOf = (s: string) => (i: number) => {
  let line = 1;
  for (let p = s.indexOf('\n'); p >= 0 && p < i; p = s.indexOf('\n', p + 1)) line++;
  return { line, column: 0 };
};

function scan(text: string, preset: boolean, out: Range[]): void {
  found = out;
  const source: Source = { content: text, filePath: '', ext: '', contentType: 'text', indexToPosition: lineOf(text) };
  for (const rule of preset ? scanners : []) {
    // A rule that throws on odd input must not take the capture down; the others still run.
    try {
      rule(source);
    } catch {
      /* next rule */
    }
  }
  for (const [literal, re] of PROVIDER_SHAPES) {
    if (!text.includes(literal)) continue;
    for (const m of text.matchAll(re)) {
      const start = m.index + (m[1] === undefined ? 0 : m[0].length - m[1].length);
      out.push([start, m.index + m[0].length]);
    }
  }
}

/** Where secrets are in `text`, by shape: sorted, overlapping ranges merged. */
export function secretRanges(original: string, opts: { preset?: boolean } = {}): Range[] {
  const preset = opts.preset !== false;
  const out: Range[] = [];
  if (!original.includes('\\')) {
    scan(original, preset, out);
  } else {
    // In JSON text a key often follows an escape (`"line\\nghp_…"`), where the rules' word
    // boundaries see no start. They look at copies with the escapes blanked, of the same
    // length, so the ranges found are the original's: one with every `\n`, `\t`, `\"`
    // blanked (also the inner ones of JSON nested in a string, `\\\n`); and, when there are
    // escaped backslashes, one that reads escapes left to right (`\\tvly-…` is a backslash
    // and a key, not a tab and "vly-…").
    scan(original.replace(/\\[nrt"]/g, '  '), preset, out);
    if (original.includes('\\\\')) scan(original.replace(/\\(?:\\|[nrt"])/g, '  '), preset, out);
  }
  out.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const merged: Range[] = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}
