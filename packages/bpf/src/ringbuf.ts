// Ring buffer consumption on Node's own event loop, read straight from the mapped ring.
//
// The ring (BPF_MAP_TYPE_RINGBUF) is mmap'd the way libbpf does it: the consumer page
// read-write, the producer page and the data area (mapped twice in a row by the kernel, so
// no record wraps) read-only. Records are then walked in JavaScript over a view of that
// memory: no foreign call and no callback per record, which at small records costs more
// than everything else we do with them. The protocol is libbpf's ringbuf_process_ring: an
// 8-byte header per record (length with BUSY and DISCARD bits), records 8-byte aligned,
// the consumer position published after the records before it are read.
//
// Waiting: an epoll_wait on the map fd runs as a koffi async call on the libuv pool, so the
// main thread never blocks. The kernel's wakeups are adaptive (it signals only when the
// consumer had caught up), and a wakeup per record costs more than the record at high
// rates; so while data keeps flowing the reader polls on a short timer instead, and goes
// back to epoll when it finds the ring empty. A batch stops once a byte budget is spent
// and the rest is taken on the next turn of the loop: output and timers keep running under
// a flood, and memory stays bounded by the batch.
import koffi from 'koffi';
import { BpfError } from './errors.js';
import { libbpf } from './libbpf.js';

export interface RingOptions {
  /** Bytes handed to onRecord per turn of the event loop before yielding (default 8 MiB). */
  batchBytes?: number;
  /** Longest wait in epoll before looking again (ms, default 200). */
  pollMs?: number;
  /**
   * While records keep coming, look again after this long instead of waiting for a wakeup
   * (ms, default 2; 0 waits in epoll every time). Bounds the added latency.
   */
  busyPollMs?: number;
  /**
   * Hand onRecord a view of the ring itself, valid only during the call, instead of a copy
   * (default false). For consumers that decode a record before returning.
   */
  view?: boolean;
  /** An exception thrown by onRecord (default: rethrown from the event loop). */
  onError?: (e: unknown) => void;
}

const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;
const EPOLL_CLOEXEC = 0o2000000;
const MAP_FAILED = (1n << 64n) - 1n;
/** Publish the consumer position at least this often within a batch, so the kernel sees room. */
const PUBLISH_BYTES = 1 << 20;

export class RingReader {
  #epfd = -1;
  #consMap: bigint;
  #dataMap: bigint;
  readonly #pageSize: number;
  readonly #size: number;
  /** consumer_pos (ours to write) and producer_pos (the kernel's). */
  #consPos: BigUint64Array;
  #prodPos: BigUint64Array;
  /** The data area, twice over, as bytes and as 32-bit words (for the record headers). */
  #data: Buffer;
  #words: Int32Array;
  #cons: number;
  #waiting = false;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;
  #closed = false;
  #freed = false;
  #events = Buffer.alloc(12 * 4);
  readonly #batch: number;
  readonly #pollMs: number;
  readonly #busyMs: number;
  /** Records and bytes delivered to onRecord so far. */
  records = 0;
  bytes = 0;
  /** Batches cut short by the byte budget (a measure of how often we yielded under load). */
  yields = 0;
  /** Waits in epoll, and how many of them ended by timeout rather than data. */
  waits = 0;
  timeouts = 0;
  waitMs = 0;
  /** Looks at the ring on the busy-poll timer. */
  polls = 0;

  constructor(
    mapFd: number,
    size: number,
    private readonly onRecord: (rec: Buffer) => void,
    private readonly opts: RingOptions,
    private readonly onClose: () => void,
  ) {
    const lb = libbpf();
    this.#batch = opts.batchBytes ?? 8 << 20;
    this.#pollMs = opts.pollMs ?? 200;
    this.#busyMs = opts.busyPollMs ?? 2;
    this.#pageSize = lb.getpagesize() as number;
    this.#size = size;
    if (size <= 0 || (size & (size - 1)) !== 0) throw new BpfError(`ring buffer size ${size} is not a power of two`);

    const fail = (what: string): never => {
      const e = koffi.errno();
      this.#unmap();
      throw new BpfError(`${what}: ${String(lb.strerror(e))}`, e);
    };
    this.#consMap = BigInt(lb.mmap(null, this.#pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0));
    if (this.#consMap === MAP_FAILED) {
      this.#consMap = 0n;
      fail('mmap ring buffer consumer page');
    }
    this.#dataMap = BigInt(lb.mmap(null, this.#pageSize + 2 * size, PROT_READ, MAP_SHARED, mapFd, this.#pageSize));
    if (this.#dataMap === MAP_FAILED) {
      this.#dataMap = 0n;
      fail('mmap ring buffer data');
    }
    this.#consPos = new BigUint64Array(koffi.view(this.#consMap, this.#pageSize), 0, 1);
    const all = koffi.view(this.#dataMap, this.#pageSize + 2 * size);
    this.#prodPos = new BigUint64Array(all, 0, 1);
    this.#data = Buffer.from(all, this.#pageSize, 2 * size);
    this.#words = new Int32Array(all, this.#pageSize, (2 * size) >> 2);
    this.#cons = Number(Atomics.load(this.#consPos, 0));

    this.#epfd = lb.epoll_create1(EPOLL_CLOEXEC) as number;
    if (this.#epfd < 0) fail('epoll_create1');
    const ev = Buffer.alloc(12);
    ev.writeUInt32LE(EPOLLIN, 0);
    if ((lb.epoll_ctl(this.#epfd, EPOLL_CTL_ADD, mapFd, ev) as number) < 0) fail('epoll_ctl on the ring buffer');
    this.#wait();
  }

  /** Stop taking records (the kernel side keeps filling the ring, then counts drops). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#next(1);
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Walk the records there now, up to `budget` bytes. Returns 1 when the budget ran out or
   * the reader was paused (more may be there), 0 when the ring was found empty after
   * delivering something, -1 when it was empty from the start.
   */
  #consume(budget: number): number {
    if (this.#freed) return -1;
    // Everything the loop reads, in locals: it runs once per record.
    const data = this.#data;
    const words = this.#words;
    const prodPos = this.#prodPos;
    const onRecord = this.onRecord;
    const view = this.opts.view === true;
    const size = this.#size;
    let cons = this.#cons;
    let published = cons;
    let records = 0;
    let bytes = 0;
    let cut = false;
    let prod = Number(Atomics.load(prodPos, 0));
    outer: while (cons < prod) {
      while (cons < prod) {
        // Positions grow without bound; the ring's size divides them exactly below 2^53.
        const off = cons % size;
        const len = Atomics.load(words, off >> 2);
        if (len & BUSY) break outer; // reserved, not committed yet: its commit will wake us
        const n = len & ~(BUSY | DISCARD);
        cons += (n + HDR + 7) & ~7;
        if (!(len & DISCARD)) {
          const rec = data.subarray(off + HDR, off + HDR + n);
          try {
            onRecord(view ? rec : Buffer.from(rec));
          } catch (e) {
            this.#cons = cons;
            this.#publish(cons);
            this.records += records + 1;
            this.bytes += bytes + n;
            (
              this.opts.onError ??
              ((err) => {
                setImmediate(() => {
                  throw err;
                });
              })
            )(e);
            return 1;
          }
          records++;
          bytes += n;
          budget -= n + HDR;
          // pause() from inside onRecord (a full output) ends the batch here.
          if (budget <= 0 || this.#paused) {
            cut = true;
            break outer;
          }
        }
        if (cons - published >= PUBLISH_BYTES) {
          this.#publish(cons);
          published = cons;
        }
      }
      prod = Number(Atomics.load(prodPos, 0));
    }
    this.#cons = cons;
    this.#publish(cons);
    this.records += records;
    this.bytes += bytes;
    if (cut) {
      this.yields++;
      return 1;
    }
    return records ? 0 : -1;
  }

  #publish(cons: number): void {
    Atomics.store(this.#consPos, 0, BigInt(cons));
  }

  /** Take everything in the ring now, synchronously (at shutdown, after detaching). */
  drain(): void {
    this.#paused = false;
    while (!this.#closed && this.#consume(this.#batch) === 1) {
      /* keep going */
    }
  }

  /** After a batch: go on at once, look again shortly, or wait for the kernel. */
  #next(r: number): void {
    if (this.#closed || this.#paused) return;
    if (r === 1) {
      if (this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        if (this.#closed || this.#paused) return;
        this.#next(this.#consume(this.#batch));
      });
    } else if (r === 0 && this.#busyMs > 0) {
      if (this.#timer) return;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#closed || this.#paused) return;
        this.polls++;
        this.#next(this.#consume(this.#batch));
      }, this.#busyMs);
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
      if (this.#closed) {
        this.#free();
        return;
      }
      if (err) {
        (
          this.opts.onError ??
          ((e) => {
            throw e;
          })
        )(err);
        return;
      }
      if (this.#paused) return;
      // On a timeout (n == 0) look anyway: cheap when empty.
      this.#next(this.#consume(this.#batch));
    });
  }

  #unmap(): void {
    const lb = libbpf();
    if (this.#consMap) lb.munmap(this.#consMap, this.#pageSize);
    if (this.#dataMap) lb.munmap(this.#dataMap, this.#pageSize + 2 * this.#size);
    this.#consMap = 0n;
    this.#dataMap = 0n;
    if (this.#epfd >= 0) lb.close(this.#epfd);
    this.#epfd = -1;
  }

  #free(): void {
    if (this.#freed) return;
    this.#freed = true;
    // Drop the views before the memory behind them goes.
    this.#data = Buffer.alloc(0);
    this.#words = new Int32Array(0);
    this.#unmap();
  }

  /** Stop consuming and release the ring (after the in-flight wait, if any, returns). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.onClose();
    if (!this.#waiting) this.#free();
  }
}
