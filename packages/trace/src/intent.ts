// What a tool call said it would do, read from its arguments: the commands it runs, the
// paths and URLs it names. A heuristic over free-form JSON, so it only ever adds evidence;
// it never decides a link on its own. (What the agent sent back, the tool results, comes
// normalized from @agentsight/llm.)

/** Keys whose string value is a command line. */
const COMMAND_KEYS = /^(command|cmd|script|shell|bash|code|command_line|commandline|run)$/i;
/** Keys whose string value names a file or directory. */
const PATH_KEYS =
  /(^|_)(path|paths|file|files|filename|file_path|filepath|dir|directory|cwd|target|source|dest|destination|notebook_path)$/i;
/** Tool names that run a shell command even when the argument key is unusual. */
const SHELL_TOOL = /bash|shell|exec|terminal|command|run/i;

export interface Intent {
  commands: string[];
  paths: string[];
  urls: string[];
  /** Host names and IP addresses named anywhere in the arguments (lower-cased). */
  hosts: string[];
  /** Words of the commands (shell-split, quotes removed). */
  tokens: Set<string>;
}

function leaves(v: unknown, key: string, out: Array<[string, string]>, depth = 0): void {
  if (depth > 8 || out.length > 200) return;
  if (typeof v === 'string') out.push([key, v]);
  else if (Array.isArray(v)) for (const x of v) leaves(x, key, out, depth + 1);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, k, out, depth + 1);
}

/** Split a command line into words the way a shell roughly would (no expansion). */
export function shellWords(cmd: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(&&|\|\||\d?>&\d+|\d?>>?|<<|[;|&<>()])|([^\s'";|&<>()]+)/g;
  let m: RegExpExecArray | null;
  let cur: string | null = null;
  let lastEnd = -1;
  while ((m = re.exec(cmd)) !== null) {
    const glued = m.index === lastEnd && cur !== null;
    lastEnd = re.lastIndex;
    if (m[3] !== undefined) {
      if (cur !== null) out.push(cur);
      cur = null;
      continue;
    }
    const piece = m[1] ?? (m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[4]!);
    if (glued) cur += piece;
    else {
      if (cur !== null) out.push(cur);
      cur = piece;
    }
  }
  if (cur !== null) out.push(cur);
  return out.filter((w) => w !== '');
}

const URL_RE = /\b(?:https?|wss?|ftp):\/\/([^\s/'"`<>?#]+)[^\s'"`<>]*/gi;
const IPV4_RE = /\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b/g;
const HOST_RE = /\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b/gi;
// Hostname-looking words that are really file names.
const FILE_EXT =
  /\.(txt|md|json|js|ts|py|sh|c|h|go|rs|toml|yaml|yml|lock|log|html|css|csv|xml|ini|conf|cfg|env|pem|key|o|so|zip|gz|tar|tgz|mjs|cjs|jsx|tsx|java|rb|php|sql|png|jpg|svg)$/i;

/** Host names and IP addresses named in free text (lower-cased, without ports). */
export function hostsIn(text: string, out: Set<string> = new Set()): Set<string> {
  for (const m of text.matchAll(URL_RE)) {
    const hp = m[1]!.replace(/^[^@]*@/, '');
    const host = hp.startsWith('[') ? hp.slice(1, hp.indexOf(']')) : hp.replace(/:\d+$/, '');
    if (host) out.add(host.toLowerCase());
  }
  for (const m of text.matchAll(IPV4_RE)) out.add(m[0]);
  for (const m of text.matchAll(HOST_RE)) if (!FILE_EXT.test(m[0])) out.add(m[0].toLowerCase());
  if (/\blocalhost\b/i.test(text)) out.add('localhost');
  return out;
}

const looksLikePath = (s: string) =>
  s.length > 0 &&
  s.length < 4096 &&
  !/[\s\n]/.test(s) &&
  !/^[a-z]+:\/\//i.test(s) &&
  (s.startsWith('/') ||
    s.startsWith('./') ||
    s.startsWith('../') ||
    s.startsWith('~/') ||
    /^[\w.-]+\/[\w./-]*$/.test(s) ||
    /^[\w-][\w.-]*\.[A-Za-z0-9]{1,8}$/.test(s));

/** Read the intent out of a tool call's name and arguments. */
export function intentOf(name: string, args: unknown): Intent {
  const pairs: Array<[string, string]> = [];
  if (typeof args === 'string') pairs.push([SHELL_TOOL.test(name) ? 'command' : '', args]);
  else leaves(args, '', pairs);
  const commands: string[] = [];
  const paths = new Set<string>();
  const urls: string[] = [];
  const hosts = new Set<string>();
  const strs = pairs.filter(([, v]) => v.trim() !== '');
  for (const [k, v] of strs) {
    if (COMMAND_KEYS.test(k) || (SHELL_TOOL.test(name) && strs.length === 1 && !PATH_KEYS.test(k)))
      commands.push(v.trim());
    else if (PATH_KEYS.test(k) || looksLikePath(v)) paths.add(v);
    for (const m of v.matchAll(URL_RE)) urls.push(m[0]);
    hostsIn(v, hosts);
  }
  const tokens = new Set<string>();
  for (const c of commands) {
    for (const w of shellWords(c)) {
      tokens.add(w);
      if (looksLikePath(w)) paths.add(w);
    }
  }
  return { commands, paths: [...paths], urls, hosts: [...hosts], tokens };
}

/** JSON with sorted keys: the identity of a tool call's arguments. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
