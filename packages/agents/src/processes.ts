// Per-process state kept while events stream: which agent each process is (for llm/call
// events: ProcessAgents) and whether it is captured at all (--allow/--deny: ProcessFilter).
// Both learn from `proc` events where the stream has them (exec, snapshot, fork, exit) and
// are bounded, so a long-running capture stays flat however many processes come and go.
import type { AgentEvent, AgentInfo, ProcExecEvent, ProcForkEvent, ProcSnapshotEvent } from '@agentsight/events';
import { classify, classifyByTraffic, type TrafficFacts } from './classify.js';
import { type LiveFacts, processFacts } from './facts.js';
import { Selector, type SelectorOptions } from './selector.js';

/** Processes remembered at most; the oldest is forgotten first. */
const MAX_PROCESSES = 32768;

class Bounded<V> extends Map<number, V> {
  override set(k: number, v: V): this {
    this.delete(k);
    super.set(k, v);
    if (this.size > MAX_PROCESSES) this.delete(this.keys().next().value!);
    return this;
  }
}

type Started = ProcExecEvent | ProcSnapshotEvent;
const isStart = (ev: AgentEvent): ev is Started => ev.src === 'proc' && (ev.type === 'exec' || ev.type === 'snapshot');

/** The agent of a process that just exec'd (or was running at start): the event's, else classified here. */
export function agentOf(ev: Started): AgentInfo | undefined {
  return ev.agent ?? classify({ ...(ev.filename ? { exe: ev.filename } : {}), argv: ev.argv, comm: ev.comm });
}

/**
 * Which agent each process is: from its exec (executable, package path, argv), inherited
 * over fork, and for a process no exec names, from its LLM calls (classifyByTraffic): a
 * process that calls a model is an agent from then on.
 */
export class ProcessAgents {
  readonly #byPid = new Bounded<AgentInfo | null>();

  observe(ev: AgentEvent): void {
    if (ev.src !== 'proc' || ev.pid === undefined) return;
    if (isStart(ev)) this.#byPid.set(ev.pid, agentOf(ev) ?? null);
    else if (ev.type === 'fork') {
      const parent = this.#byPid.get((ev as ProcForkEvent).ppid);
      if (parent !== undefined) this.#byPid.set(ev.pid, parent);
    }
    // Exits are not forgotten at once: the process's last call may be merged after its exit.
  }

  get(pid: number): AgentInfo | undefined {
    return this.#byPid.get(pid) ?? undefined;
  }

  /** The agent that made a call from `pid`: the process's, else judged by the call (and remembered). */
  forCall(pid: number | undefined, t: TrafficFacts): AgentInfo | undefined {
    const known = pid === undefined ? undefined : this.#byPid.get(pid);
    if (known) return known;
    const a = classifyByTraffic(t);
    if (a && pid !== undefined) this.#byPid.set(pid, a);
    return a;
  }
}

export interface ProcessFilterOptions {
  /** A process's facts when no `proc` event told them (default: read from /proc). */
  lookup?: (pid: number) => LiveFacts | undefined;
  /** How long a verdict read from /proc stands before it is read again (pids are reused). */
  ttlMs?: number;
  now?: () => number;
}

interface Verdict {
  ok: boolean;
  /** Learned from a proc event and the process still runs: stands until its exit. */
  live: boolean;
  at: number;
  /** Its parent's, from its fork: it may have exec'd something else since (see filter). */
  forked?: boolean;
}

/**
 * --allow/--deny over a stream: whether each process is captured. A process's own verdict
 * (Selector.verdict) decides; a process no rule names is captured as its parent is (so
 * `--allow agent:claude-code` keeps the tools Claude Code runs, `--deny comm:make` drops
 * what make runs), and a process with no known parent by the selector's default.
 */
export class ProcessFilter {
  readonly selector: Selector;
  readonly #v = new Bounded<Verdict>();
  readonly #lookup: (pid: number) => LiveFacts | undefined;
  readonly #ttl: number;
  readonly #now: () => number;
  /** Events dropped, for the summary. */
  dropped = 0;

  constructor(sel: Selector | SelectorOptions, opts: ProcessFilterOptions = {}) {
    this.selector = sel instanceof Selector ? sel : new Selector(sel);
    this.#lookup = opts.lookup ?? ((pid) => processFacts(pid));
    this.#ttl = opts.ttlMs ?? 5000;
    this.#now = opts.now ?? Date.now;
  }

  get empty(): boolean {
    return this.selector.empty;
  }

  /** Learn from a proc event (call for every event, before `allows`). */
  observe(ev: AgentEvent): void {
    if (ev.src !== 'proc' || ev.pid === undefined || this.empty) return;
    const now = this.#now();
    if (isStart(ev)) {
      const own = this.selector.verdict({
        ...(ev.filename ? { exe: ev.filename } : {}),
        argv: ev.argv,
        comm: ev.comm,
        ...(ev.uid !== undefined ? { uid: ev.uid } : {}),
        ...(this.selector.needsAgent ? { agent: agentOf(ev) } : {}),
      });
      const ok = own ? own === 'allow' : this.#inherit(ev.ppid, 0);
      this.#v.set(ev.pid, { ok, live: true, at: now });
    } else if (ev.type === 'fork') {
      this.#v.set(ev.pid, { ok: this.#inherit((ev as ProcForkEvent).ppid, 0), live: true, at: now, forked: true });
    } else if (ev.type === 'exit') {
      // Its last TLS records may come after its exit (another ring): keep the verdict a while.
      const v = this.#v.get(ev.pid);
      if (v) Object.assign(v, { live: false, at: now });
    }
  }

  #inherit(ppid: number | undefined, depth: number): boolean {
    if (ppid === undefined || ppid <= 1 || depth > 32) return this.selector.byDefault;
    return this.#allows(ppid, depth + 1);
  }

  /** Is this process captured? Events without a pid always are. */
  allows(pid: number | undefined): boolean {
    if (pid === undefined || this.empty) return true;
    return this.#allows(pid, 0);
  }

  /**
   * A process that has just exec'd, judged again from /proc: what it inherited at its fork
   * no longer says what it runs, and its exec event may not have been read yet (the TLS
   * capture reports the exec on a ring of its own).
   */
  allowsAfterExec(pid: number): boolean {
    if (this.empty) return true;
    return this.#allows(pid, 0, true);
  }

  #allows(pid: number, depth: number, fresh = false): boolean {
    const now = this.#now();
    const v = this.#v.get(pid);
    if (v && !fresh && (v.live || now - v.at < this.#ttl)) return v.ok;
    const f = this.#lookup(pid);
    let ok: boolean;
    if (!f) ok = v?.ok ?? this.selector.byDefault;
    else {
      const agent = f.agent ?? (this.selector.needsAgent ? classify(f) : undefined);
      const own = this.selector.verdict(agent ? { ...f, agent } : f);
      ok = own ? own === 'allow' : this.#inherit(f.ppid, depth);
    }
    // Still followed by proc events (its exit will come), or read again after the ttl: no
    // exit will say when the pid is reused.
    this.#v.set(pid, { ok, live: !!f && !!v?.live, at: now });
    return ok;
  }

  /** Pass on only the events of captured processes (proc events are learned from first). */
  filter(ev: AgentEvent): boolean {
    this.observe(ev);
    if (ev.pid === undefined || this.empty) return true;
    // A verdict its fork gave it, and no exec event since: what it does (TLS, stdio) is read
    // from rings of their own and may come before its exec event. /proc says what it runs now
    // (the same as its parent's verdict if it has not exec'd).
    const stale = ev.src !== 'proc' && this.#v.get(ev.pid)?.forked;
    if (this.#allows(ev.pid, 0, !!stale)) return true;
    this.dropped++;
    return false;
  }
}
