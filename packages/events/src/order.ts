import type { Emit, Stage } from './stage.js';
import type { AgentEvent } from './types.js';

/**
 * Puts events from several sources back into time order. Capture runs several kernel ring
 * buffers (TLS, processes, stdio) that are drained in turn, so a process's exec can be read
 * after the model call its tool led to; anything that reasons across sources (the
 * correlation) needs them in `ts` order. Events are held for `windowMs` of wall time and
 * released oldest first on `tick`; past `maxEvents` held, the oldest goes at once, so
 * memory is bounded whatever the input rate.
 */
export class TimeOrder implements Stage {
  readonly #emit: Emit;
  readonly #windowUs: number;
  readonly #max: number;
  #heap: Array<{ ev: AgentEvent; n: number }> = [];
  #n = 0;

  constructor(opts: { windowMs?: number; maxEvents?: number }, emit: Emit) {
    this.#emit = emit;
    this.#windowUs = (opts.windowMs ?? 250) * 1000;
    this.#max = opts.maxEvents ?? 100_000;
  }

  get held(): number {
    return this.#heap.length;
  }

  write(ev: AgentEvent): void {
    this.#push({ ev, n: this.#n++ });
    while (this.#heap.length > this.#max) this.#emit(this.#pop().ev);
  }

  /** Release what is older than the window. */
  tick(nowUs: number): void {
    const limit = nowUs - this.#windowUs;
    while (this.#heap.length && this.#heap[0]!.ev.ts <= limit) this.#emit(this.#pop().ev);
  }

  end(): void {
    while (this.#heap.length) this.#emit(this.#pop().ev);
  }

  // A binary min-heap on (ts, arrival): equal times keep their arrival order.
  #less(a: { ev: AgentEvent; n: number }, b: { ev: AgentEvent; n: number }): boolean {
    return a.ev.ts < b.ev.ts || (a.ev.ts === b.ev.ts && a.n < b.n);
  }

  #push(x: { ev: AgentEvent; n: number }): void {
    const h = this.#heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): { ev: AgentEvent; n: number } {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1,
          r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
