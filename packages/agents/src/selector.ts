// Allow and deny lists over processes: rules like `comm:claude`, `path:/usr/bin/python3*`,
// `uid:1000`, `agent:claude-code` (`agent:*`: any recognised agent). A process is
// captured when no deny rule matches it and, if there are allow rules, one of them does;
// deny wins. Values are globs (`*` any characters, `?` one).
import type { AgentInfo } from '@agentsight/events';
import { type ProcessFacts, programPaths } from './classify.js';

export const SELECTOR_KINDS = ['comm', 'path', 'uid', 'agent'] as const;
export type SelectorKind = (typeof SELECTOR_KINDS)[number];

/** What tools take (--allow/--deny, repeatable) and pass on: the same object everywhere. */
export interface SelectorOptions {
  allow?: readonly string[];
  deny?: readonly string[];
}

/** The facts rules are matched against. */
export interface SelectFacts extends ProcessFacts {
  uid?: number;
  agent?: AgentInfo;
}

export interface Rule {
  kind: SelectorKind;
  value: string;
  test: (f: SelectFacts) => boolean;
}

export class SelectorError extends Error {}

function glob(pattern: string): RegExp {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 's');
}

/** One rule from its text; throws SelectorError saying what is wrong. */
export function parseRule(text: string): Rule {
  const i = text.indexOf(':');
  const kind = text.slice(0, i) as SelectorKind;
  const value = text.slice(i + 1);
  if (i < 0 || !SELECTOR_KINDS.includes(kind))
    throw new SelectorError(`${JSON.stringify(text)}: want KIND:VALUE, KIND one of ${SELECTOR_KINDS.join(', ')}`);
  if (!value) throw new SelectorError(`${JSON.stringify(text)}: empty value`);
  switch (kind) {
    case 'uid': {
      if (!/^\d+$/.test(value)) throw new SelectorError(`${JSON.stringify(text)}: want a numeric user id`);
      const uid = Number(value);
      return { kind, value, test: (f) => f.uid === uid };
    }
    case 'comm': {
      // The kernel keeps 15 bytes of a name: a longer pattern matches what it keeps.
      const re = glob(Buffer.from(value).subarray(0, 15).toString('utf8'));
      return { kind, value, test: (f) => f.comm !== undefined && re.test(f.comm) };
    }
    case 'path': {
      const re = glob(value);
      return { kind, value, test: (f) => programPaths(f).some((p) => re.test(p)) };
    }
    case 'agent': {
      const re = glob(value);
      return { kind, value, test: (f) => f.agent !== undefined && re.test(f.agent.id) };
    }
  }
}

export class Selector {
  readonly allow: readonly Rule[];
  readonly deny: readonly Rule[];

  constructor(o: SelectorOptions = {}) {
    this.allow = (o.allow ?? []).map(parseRule);
    this.deny = (o.deny ?? []).map(parseRule);
  }

  /** No rules: every process is captured. */
  get empty(): boolean {
    return !this.allow.length && !this.deny.length;
  }

  /** Rules about agents need each process classified. */
  get needsAgent(): boolean {
    return [...this.allow, ...this.deny].some((r) => r.kind === 'agent');
  }

  /** A process no rule names: captured unless there are allow rules. */
  get byDefault(): boolean {
    return !this.allow.length;
  }

  /** The process's own verdict: a deny rule matches, else an allow rule, else none. */
  verdict(f: SelectFacts): 'allow' | 'deny' | undefined {
    if (this.deny.some((r) => r.test(f))) return 'deny';
    if (this.allow.some((r) => r.test(f))) return 'allow';
    return undefined;
  }

  /** For messages: the rules, as given. */
  describe(): string {
    const l = (rs: readonly Rule[]) => rs.map((r) => `${r.kind}:${r.value}`).join(', ');
    return [this.allow.length ? `allow ${l(this.allow)}` : '', this.deny.length ? `deny ${l(this.deny)}` : '']
      .filter(Boolean)
      .join('; ');
  }
}

const RULES = 'comm:NAME, path:GLOB, uid:N, agent:ID (agent:* any agent)';

/**
 * --allow and --deny as every tool that captures declares them (yargs option specs), so
 * their spelling and help are the same in as-sslsniff, as-proc and agentsight.
 */
export const SELECTOR_FLAGS = {
  allow: {
    type: 'string',
    array: true,
    nargs: 1,
    describe: `Capture only processes matching one of these rules (repeatable): ${RULES}; a process no rule names is captured as its parent is`,
  },
  deny: {
    type: 'string',
    array: true,
    nargs: 1,
    describe: `Never capture processes matching these rules (repeatable; wins over --allow): ${RULES}`,
  },
} as const;

/** The options object of parsed --allow/--deny, for passing on (the pipeline, monitor). */
export function selectorOptions(args: { allow?: readonly string[]; deny?: readonly string[] }): SelectorOptions {
  return { ...(args.allow?.length ? { allow: args.allow } : {}), ...(args.deny?.length ? { deny: args.deny } : {}) };
}
