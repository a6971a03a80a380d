// The alert rules: what deserves a look, judged on the events as they come and on the
// correlator's decisions. A file the agent has no business reading (sensitive_file), a
// connection to a host the conversation never named (unknown_host), writes outside the
// project (outside_project), a tool call that ran something else (tool_mismatch), and the
// same failing tool call again and again (tool_loop).
import type { ProcConnectEvent, ProcFileOpEvent, ProcOpenEvent, TraceAlertEvent } from '@agentsight/events';
import { hostsIn } from './intent.js';
import { isInside, sensitiveReason } from './paths.js';
import type { Proc } from './procs.js';
import { basename, normAddr } from './score.js';

export type AlertFn = (
  ts: number,
  rule: string,
  severity: TraceAlertEvent['severity'],
  message: string,
  evidence: Record<string, unknown>,
  pid?: number,
) => void;

/** What the rules know of an agent (kept by the correlator). */
export interface AgentFacts {
  pid: number;
  cwd?: string;
  /** Hosts of the LLM APIs this agent called: its own connections there are expected. */
  apiHosts: Set<string>;
  /** Host names and addresses the conversation mentioned. */
  mentioned: Set<string>;
  loop: { key: string; count: number; fired: boolean; keys: string[] } | null;
}

/** A tool call as the loop and mismatch rules see it. */
export interface ToolFacts {
  key: string;
  callId: string;
  name: string;
  args: unknown;
  /** Identity of the call's arguments: equal keys are the same call repeated. */
  argKey: string;
  commands: string[];
}

export interface OutsideWrite {
  pid: number;
  path: string;
  op: string;
  ret: number;
  ts: number;
}

const MAX_SEEN = 10_000;
/** Writes here are flagged as info only: scratch space every tool uses. */
const TEMP_DIRS = ['/tmp/', '/var/tmp/', '/dev/shm/'];
const isLoopback = (a: string) => /^127\./.test(a) || a === '::1';

/** A Set that forgets its oldest entries past a size: alert deduplication. */
class SeenSet {
  #s = new Set<string>();
  constructor(private readonly cap: number) {}
  add(k: string): boolean {
    if (this.#s.has(k)) return false;
    this.#s.add(k);
    if (this.#s.size > this.cap) this.#s.delete(this.#s.values().next().value as string);
    return true;
  }
}

export class AlertRules {
  readonly #seen = new SeenSet(MAX_SEEN);

  constructor(
    private readonly opts: { loopThreshold: number; allowOutside: string[] },
    private readonly alert: AlertFn,
    private readonly procOf: (pid: number) => Proc | undefined,
  ) {}

  /** unknown_host: a process under the agent (not the agent) connected to a host never named. */
  connect(a: AgentFacts, p: Proc, ev: ProcConnectEvent, ctx: Record<string, unknown>): void {
    if (p.pid === a.pid || ev.addr === undefined || (ev.family !== 'inet' && ev.family !== 'inet6') || ev.port === 53)
      return;
    const addr = normAddr(ev.addr);
    if (this.#knownHost(a, p, addr)) return;
    if (!this.#seen.add(`host:${a.pid}:${addr}:${ev.port}`)) return;
    this.alert(
      ev.ts,
      'unknown_host',
      'warning',
      `connection to ${addr}:${ev.port ?? '?'}, a host never mentioned in the conversation`,
      { ...ctx, addr, port: ev.port, ret: ev.ret },
      p.pid,
    );
  }

  #knownHost(a: AgentFacts, p: Proc, addr: string): boolean {
    if (a.mentioned.has(addr) || a.apiHosts.has(addr)) return true;
    if (isLoopback(addr) && (a.mentioned.has('localhost') || a.apiHosts.has('localhost'))) return true;
    // Without DNS the address cannot be checked against a name; a process whose own command
    // line names a host the conversation mentioned gets the benefit of the doubt (its
    // parent shell's does not: that would cover every process of a compound command).
    for (const w of p.argv.slice(1)) {
      for (const h of hostsIn(w)) if (a.mentioned.has(h)) return true;
    }
    return false;
  }

  /** sensitive_file: a process under the agent opened, renamed or deleted a secret. */
  sensitive(p: Proc, fe: ProcOpenEvent | ProcFileOpEvent, paths: string[], ctx: Record<string, unknown>): void {
    for (const fp of paths) {
      const why = sensitiveReason(fp);
      if (why && this.#seen.add(`sens:${p.pid}:${fp}`)) {
        this.alert(
          fe.ts,
          'sensitive_file',
          fe.ret < 0 ? 'warning' : 'critical',
          `${basename(p.argv[0] ?? p.comm) || p.comm} ${fe.type === 'open' ? 'opened' : fe.type === 'rename' ? 'renamed' : 'deleted'} ${fp} (${why})${fe.ret < 0 ? ', which failed' : ''}`,
          { ...ctx, path: fp, op: fe.type, ...(fe.type === 'open' ? { flags: fe.flags } : {}), ret: fe.ret, why },
          p.pid,
        );
      }
    }
  }

  /** Whether a write to `path` leaves the agent's project (and is not in an allowed place). */
  outsideProject(a: AgentFacts, path: string): boolean {
    return !!a.cwd && !isInside(path, a.cwd) && !this.opts.allowOutside.some((pre) => path.startsWith(pre));
  }

  /** outside_project: a write outside the project, once a tool call is known to own it. */
  outside(a: AgentFacts, w: OutsideWrite, toolCall: string): void {
    if (!a.cwd || !this.#seen.add(`out:${a.pid}:${w.path}`)) return;
    const p = this.procOf(w.pid);
    const name = p ? basename(p.argv[0] ?? p.comm) || p.comm : String(w.pid);
    const temp = TEMP_DIRS.some((d) => w.path.startsWith(d));
    this.alert(
      w.ts,
      'outside_project',
      temp ? 'info' : 'warning',
      `${name} modified ${w.path}, outside the project directory ${a.cwd}`,
      {
        pid: w.pid,
        argv: p?.argv ?? [],
        agent_pid: a.pid,
        tool_call: toolCall,
        path: w.path,
        op: w.op,
        project: a.cwd,
        ret: w.ret,
      },
      w.pid,
    );
  }

  /** tool_mismatch: the tool asked to run a command, nothing matched it, and unattributed processes ran. */
  unmatched(ts: number, a: AgentFacts, t: ToolFacts, orphans: Proc[]): void {
    this.alert(
      ts,
      'tool_mismatch',
      'warning',
      `tool call ${t.name} (${t.key}) asked to run ${JSON.stringify(t.commands[0]!.slice(0, 200))}; no process matched, unattributed processes ran`,
      {
        tool_call: t.key,
        call: t.callId,
        command: t.commands[0],
        ran: orphans.map((p) => ({ pid: p.pid, argv: p.argv })),
      },
      a.pid,
    );
  }

  /** tool_mismatch: said one thing, ran another (the command named a program, and what ran was not it). */
  ranOther(ts: number, t: ToolFacts, ran: Proc[]): void {
    this.alert(
      ts,
      'tool_mismatch',
      'warning',
      `tool call ${t.name} (${t.key}) asked to run ${JSON.stringify(t.commands[0]!.slice(0, 200))} but ran ${JSON.stringify(ran[0]!.argv.join(' ').slice(0, 200))}`,
      {
        tool_call: t.key,
        call: t.callId,
        command: t.commands[0],
        ran: ran.map((p) => ({ pid: p.pid, argv: p.argv })),
      },
      ran[0]!.pid,
    );
  }

  /** tool_loop: the same tool call failing `loopThreshold` times in a row. */
  result(a: AgentFacts, t: ToolFacts, failed: boolean, ts: number): void {
    if (!failed) {
      a.loop = null;
      return;
    }
    const n = this.opts.loopThreshold;
    if (a.loop && a.loop.key === t.argKey) {
      a.loop.count++;
      a.loop.keys.push(t.key);
      if (a.loop.keys.length > n) a.loop.keys.shift();
    } else a.loop = { key: t.argKey, count: 1, fired: false, keys: [t.key] };
    if (a.loop.count >= n && !a.loop.fired) {
      a.loop.fired = true;
      this.alert(
        ts,
        'tool_loop',
        'warning',
        `${a.loop.count} identical failing ${t.name} calls in a row`,
        {
          tool: t.name,
          arguments: t.args,
          count: a.loop.count,
          tool_calls: [...a.loop.keys],
          agent_pid: a.pid,
        },
        a.pid,
      );
    }
  }
}
