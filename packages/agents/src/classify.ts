// Which agent a process is, from what its exec says (the executable, argv, the kernel's
// comm), or from a call it made (the User-Agent, the provider). Pure functions over the
// table in table.ts.
import type { AgentInfo } from '@agentsight/events';
import { AGENTS, type AgentRow, INTERPRETERS, LLM_CLIENT_ID } from './table.js';

export interface ProcessFacts {
  /** The program file (the exec's filename, or /proc/PID/exe). */
  exe?: string;
  argv?: readonly string[];
  /** The kernel's process name (15 bytes at most). */
  comm?: string;
}

const base = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const scriptName = (p: string) => base(p).replace(/\.(js|mjs|cjs|py)$/, '');

/** Interpreter options that take the next argument as their value (not the script). */
const VALUE_OPTS = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--title']);
/** Options after which there is no script file: the program is given inline. */
const INLINE_OPTS = new Set(['-e', '--eval', '-p', '--print', '-c']);

interface Program {
  /** The script an interpreter runs, and the arguments after it. */
  script?: string;
  module?: string;
  rest: readonly string[];
}

/** What an interpreter (node, bun, python, …) was asked to run: argv after the interpreter. */
function interpreted(argv: readonly string[]): Program {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-m') return { module: argv[i + 1], rest: argv.slice(i + 2) };
    if (INLINE_OPTS.has(a)) return { rest: [] };
    if (VALUE_OPTS.has(a) || a === '-W' || a === '-X') {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    // `bun run x.ts`, `deno run x.ts`
    if ((a === 'run' || a === 'x') && i === 1) continue;
    return { script: a, rest: argv.slice(i + 1) };
  }
  return { rest: [] };
}

/**
 * The files that make up the program: the executable, argv[0] when it is a path, and the
 * script an interpreter runs. What `path:` selectors and package paths are matched against.
 */
export function programPaths(p: ProcessFacts): string[] {
  const argv = p.argv ?? [];
  const files = [p.exe, argv[0]?.includes('/') ? argv[0] : undefined].filter((x): x is string => !!x);
  const interp = [p.exe, argv[0]].some((f) => f && INTERPRETERS.test(base(f)));
  const script = interp ? interpreted(argv).script : undefined;
  return script ? [...new Set([...files, script])] : [...new Set(files)];
}

const info = (r: AgentRow, via: AgentInfo['via']): AgentInfo => ({ id: r.id, name: r.name, via });

/** The known agent this process runs, or undefined. */
export function classify(p: ProcessFacts): AgentInfo | undefined {
  const argv = p.argv ?? [];
  const files = [p.exe, argv[0]].filter((x): x is string => !!x);
  const interp = files.some((f) => INTERPRETERS.test(base(f))) || (!files.length && INTERPRETERS.test(p.comm ?? ''));
  const prog: Program = interp ? interpreted(argv) : { rest: argv.slice(1) };
  const paths = prog.script ? [...files, prog.script] : files;
  for (const r of AGENTS) if (r.paths?.some((frag) => paths.some((f) => f.includes(frag)))) return info(r, 'path');
  const subOk = (r: AgentRow) => !r.subcommands || prog.rest.length === 0 || r.subcommands.includes(prog.rest[0]!);
  if (!interp) {
    const names = [...files.map(base), ...(p.comm ? [p.comm] : [])];
    for (const r of AGENTS) if (r.names?.some((n) => names.includes(n)) && subOk(r)) return info(r, 'exe');
    return undefined;
  }
  if (prog.script) {
    const n = scriptName(prog.script);
    for (const r of AGENTS) if (r.names?.includes(n) && subOk(r)) return info(r, 'argv');
  }
  if (prog.module) for (const r of AGENTS) if (r.modules?.includes(prog.module)) return info(r, 'argv');
  // A node agent may rename itself (process.title): the kernel's comm is then its name.
  if (p.comm && !INTERPRETERS.test(p.comm))
    for (const r of AGENTS) if (r.names?.includes(p.comm) && !r.subcommands) return info(r, 'exe');
  return undefined;
}

export interface TrafficFacts {
  /** The request's headers (lower-case names), for User-Agent and x-goog-api-client. */
  headers?: Record<string, string>;
  /** The provider the call went to (llm/call `provider`). */
  provider?: string;
  comm?: string;
}

/** `product/1.2` as a whole token of `ua`: at its start or after a space, case-insensitive. */
function hasToken(ua: string, prefix: string): boolean {
  const u = ua.toLowerCase();
  const p = prefix.toLowerCase();
  return u.startsWith(p) || u.includes(` ${p}`);
}

/**
 * The agent a process is, judged by one LLM call it made: a known User-Agent names it;
 * otherwise, having made the call at all makes it an LLM client, named by the first product
 * of its User-Agent (or its comm) and the provider. Undefined when there is no call to go on.
 */
export function classifyByTraffic(t: TrafficFacts): AgentInfo | undefined {
  const h = t.headers ?? {};
  const uas = [h['user-agent'], h['x-goog-api-client']].filter((x): x is string => !!x);
  for (const r of AGENTS)
    if (r.userAgents?.some((prefix) => uas.some((ua) => hasToken(ua, prefix)))) return info(r, 'user-agent');
  if (!t.provider) return undefined;
  const product = h['user-agent']?.split(/[\s/]/)[0] || t.comm || 'unknown client';
  return { id: LLM_CLIENT_ID, name: `${product} (${t.provider})`, via: 'traffic' };
}
