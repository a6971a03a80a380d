import type { AgentEvent } from './types.js';

/**
 * A pipeline stage: what `as-http`, `as-merge` and the others are at heart. A stage takes
 * events one at a time and emits zero or more events through the `emit` it was built with.
 * The standalone tools wrap one stage between an NDJSON reader and writer; `agentsight exec`
 * chains the same stage objects in one process. Events a stage does not consume it passes on.
 */
export interface Stage {
  write(ev: AgentEvent): void;
  /** End of input: flush anything held. */
  end(): void;
  /** Optional periodic housekeeping (idle timeouts); called with the current wall time µs. */
  tick?(nowUs: number): void;
}

export type Emit = (ev: AgentEvent) => void;

/** Chain stages so that each one's output feeds the next; returns the head. */
export function chain(make: Array<(emit: Emit) => Stage>, sink: Emit): Stage {
  let next: Emit = sink;
  const stages: Stage[] = [];
  for (let i = make.length - 1; i >= 0; i--) {
    const s = make[i]!(next);
    stages.unshift(s);
    next = (ev) => s.write(ev);
  }
  return {
    write: (ev) => stages[0]!.write(ev),
    end: () => {
      for (const s of stages) s.end();
    },
    tick: (now) => {
      for (const s of stages) s.tick?.(now);
    },
  };
}
