// Ring buffer consumption on Node's own event loop.
//
// libbpf's sample callback must run on the JS thread (koffi makes a callback from another
// thread wait until the main thread gets round to it), so only the *waiting* happens
// elsewhere: an epoll_wait on ring_buffer__epoll_fd runs as a koffi async call on the
// libuv pool, and when it reports data the main thread calls ring_buffer__consume. libbpf
// 1.1 has no bounded consume, so the callback stops a batch (negative return) once a byte
// budget is spent and the rest is taken on the next turn of the loop: output and timers
// keep running under a flood, and memory stays bounded by the batch.
import koffi from 'koffi';
import { libbpf, type Ptr } from './libbpf.js';
import { BpfError } from './errors.js';

export interface RingOptions {
  /** Bytes handed to onRecord per turn of the event loop before yielding (default 8 MiB). */
  batchBytes?: number;
  /** Longest wait in epoll before looking again (ms, default 200). */
  pollMs?: number;
  /** An exception thrown by onRecord (default: rethrown from the event loop). */
  onError?: (e: unknown) => void;
}

/** Returned by the sample callback to end a batch early; not an errno libbpf produces itself. */
const STOP_BATCH = -125; /* -ECANCELED */

export class RingReader {
  #rb: Ptr;
  #epfd: number;
  #cb: bigint;
  #waiting = false;
  #scheduled = false;
  #paused = false;
  #closed = false;
  #budget = 0;
  #error: unknown;
  #events = Buffer.alloc(12 * 4);
  readonly #batch: number;
  readonly #pollMs: number;
  /** Records and bytes delivered to onRecord so far. */
  records = 0;
  bytes = 0;
  /** Batches cut short by the byte budget (a measure of how often we yielded under load). */
  yields = 0;
  /** Waits in epoll, and how many of them ended by timeout rather than data. */
  waits = 0;
  timeouts = 0;
  waitMs = 0;

  constructor(mapFd: number, private readonly onRecord: (rec: Buffer) => void, private readonly opts: RingOptions, private readonly onClose: () => void) {
    const lb = libbpf();
    this.#batch = opts.batchBytes ?? 8 << 20;
    this.#pollMs = opts.pollMs ?? 200;
    this.#cb = koffi.register((_ctx: bigint, data: bigint, size: number | bigint) => {
      const n = Number(size);
      try {
        this.onRecord(Buffer.from(koffi.view(data, n)));
      } catch (e) {
        this.#error ??= e;
        return STOP_BATCH;
      }
      this.records++;
      this.bytes += n;
      this.#budget -= n + 8;
      // pause() from inside onRecord (a full output) ends the batch here.
      return this.#budget <= 0 || this.#paused ? STOP_BATCH : 0;
    }, koffi.pointer(lb.SampleFn));
    const rb = lb.rb_new(mapFd, this.#cb, null, null) as Ptr;
    if (!rb) {
      koffi.unregister(this.#cb);
      throw new BpfError(`ring_buffer__new: ${String(lb.strerror(koffi.errno()))}`, koffi.errno());
    }
    this.#rb = rb;
    this.#epfd = lb.rb_epoll_fd(rb) as number;
    this.#wait();
  }

  /** Stop taking records (the kernel side keeps filling the ring, then counts drops). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#next(true);
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Consume one bounded batch now; true when the ring may hold more. */
  #consume(budget: number): boolean {
    if (this.#rb === null) return false;
    this.#budget = budget;
    const r = libbpf().rb_consume(this.#rb) as number;
    if (this.#error !== undefined) {
      const e = this.#error;
      this.#error = undefined;
      if (this.opts.onError) this.opts.onError(e);
      else setImmediate(() => { throw e; });
    }
    if (r === STOP_BATCH) { this.yields++; return true; }
    if (r < 0) throw new BpfError(`ring_buffer__consume: ${String(libbpf().strerror(-r))}`, -r);
    return false;
  }

  /** Take everything in the ring now, synchronously (at shutdown, after detaching). */
  drain(): void {
    this.#paused = false;
    while (!this.#closed && this.#consume(this.#batch)) { /* keep going */ }
  }

  #next(more: boolean): void {
    if (this.#closed || this.#paused) return;
    if (more) {
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (this.#closed || this.#paused) return;
        this.#next(this.#consume(this.#batch));
      });
    } else {
      this.#wait();
    }
  }

  #wait(): void {
    if (this.#waiting || this.#closed || this.#paused) return;
    this.#waiting = true;
    this.waits++;
    const t0 = performance.now();
    libbpf().epoll_wait.async(this.#epfd, this.#events, 4, this.#pollMs, (err: unknown, n: number) => {
      this.#waiting = false;
      this.waitMs += performance.now() - t0;
      if (n === 0) this.timeouts++;
      if (this.#closed) { this.#free(); return; }
      if (err) { (this.opts.onError ?? ((e) => { throw e; }))(err); return; }
      if (this.#paused) return;
      // On a timeout (n == 0) consume anyway: cheap when empty, and it catches records whose
      // wakeup the kernel skipped (ringbuf wakeups are adaptive).
      void n;
      this.#next(this.#consume(this.#batch));
    });
  }

  #free(): void {
    if (this.#rb === null) return;
    libbpf().rb_free(this.#rb);
    this.#rb = null;
    koffi.unregister(this.#cb);
  }

  /** Stop consuming and free the ring buffer (after the in-flight wait, if any, returns). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose();
    if (!this.#waiting) this.#free();
  }
}
