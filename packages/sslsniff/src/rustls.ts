// rustls's records, from aws-lc's AEAD (bpf/sslsniff.bpf.c aead_*), made into the
// connections as-http reads. Each direction of a connection is its own AEAD context (and a
// new one at each key change: handshake keys, then application keys), so the context
// pointer the kernel reports is not the connection: the socket is. The kernel stamps each
// record with its socket fd where it knows it (a record opened after the thread read the
// socket; a context sealing again), and otherwise reports the fd at the send that follows
// (KIND_FD); records wait here until then. A connection is (pid, fd), and a new session on
// a reused fd starts at its handshake: the EncryptedExtensions or Finished marker the
// kernel reports after application data was seen.
import { F_PADDED, type RecordHeader } from './record.js';

export interface LinkerOptions {
  data: (h: RecordHeader, conn: string, seq: number, fd: number, bytes: Buffer, truncated: boolean) => void;
  handshake: (h: RecordHeader, conn: string, fd: number) => void;
  now?: () => number;
  /** How long records wait for their socket before they go out on a connection of their own (ms). */
  waitMs?: number;
  /** Forget connections idle for this long (ms). */
  idleMs?: number;
}

interface Item {
  h: RecordHeader;
  /** A copy (the ring's view is gone by the time it leaves); undefined for a handshake marker. */
  bytes?: Buffer;
  truncated: boolean;
}

interface Pending {
  items: Item[];
  since: number;
  tid: number;
  write: boolean;
}

interface Stream {
  base: string;
  id: string;
  gen: number;
  seq: [number, number];
  /** Application data seen in this session: a handshake after it starts the next one. */
  app: boolean;
  announced: boolean;
  last: number;
}

export interface LinkerStats {
  /** Records that never learnt their socket: emitted on a connection of their own (pid:context). */
  unlinked: number;
  /** Padded TLS 1.3 records that were not application data once unpadded. */
  dropped: number;
}

const APPDATA = 0x17;

export class RustlsLinker {
  readonly stats: LinkerStats = { unlinked: 0, dropped: 0 };
  readonly #pending = new Map<string, Pending>();
  readonly #streams = new Map<string, Stream>();
  readonly #now: () => number;
  readonly #wait: number;
  readonly #idle: number;

  constructor(private readonly opts: LinkerOptions) {
    this.#now = opts.now ?? (() => performance.now());
    this.#wait = opts.waitMs ?? 1000;
    this.#idle = opts.idleMs ?? 30 * 60_000;
  }

  /** One record's application data (the call's bytes; read only during the call). */
  data(h: RecordHeader, bytes: Buffer, truncated: boolean): void {
    if (h.flags & F_PADDED && !truncated) {
      // TLS 1.3 padding: zeros after the real content type, which follows the data.
      let n = bytes.length;
      while (n > 0 && bytes[n - 1] === 0) n--;
      if (n === 0 || bytes[n - 1] !== APPDATA) {
        this.stats.dropped++;
        return;
      }
      bytes = bytes.subarray(0, n - 1);
      h = { ...h, len: n - 1 };
    }
    this.#item(h, { h, bytes, truncated });
  }

  /** A session's first handshake messages (KIND_HANDSHAKE). */
  handshake(h: RecordHeader): void {
    this.#item(h, { h, truncated: false });
  }

  /**
   * KIND_FD: a thread sent on socket `fd` after sealing records: those it sealed and that
   * still wait went out on it.
   */
  fd(h: RecordHeader): void {
    for (const [key, p] of this.#pending) {
      if (!p.write || p.tid !== h.tid || !key.startsWith(`${h.pid}:`)) continue;
      this.#pending.delete(key);
      for (const it of p.items) this.#route(it, h.fd);
    }
  }

  #item(h: RecordHeader, it: Item): void {
    const key = `${h.pid}:${h.conn}`;
    const p = this.#pending.get(key);
    if (h.fd >= 0) {
      // Known now: what waited on this context goes first, on the same socket.
      if (p) {
        this.#pending.delete(key);
        for (const q of p.items) this.#route(q, h.fd);
      }
      this.#route(it, h.fd);
      return;
    }
    if (it.bytes) it.bytes = Buffer.from(it.bytes);
    if (p) {
      p.items.push(it);
      p.tid = h.tid;
    } else {
      this.#pending.set(key, { items: [it], since: this.#now(), tid: h.tid, write: h.dir === 1 });
    }
  }

  #route(it: Item, fd: number): void {
    const { h } = it;
    const base = fd >= 0 ? `${h.pid}:fd${fd}` : `${h.pid}:${h.conn}`;
    let st = this.#streams.get(base);
    if (!st) {
      st = { base, id: base, gen: 0, seq: [0, 0], app: false, announced: false, last: 0 };
      this.#streams.set(base, st);
    }
    st.last = this.#now();
    if (!it.bytes) {
      if (st.app) {
        st.gen++;
        st.id = `${base}.${st.gen}`;
        st.seq = [0, 0];
        st.app = false;
        st.announced = false;
      }
      if (!st.announced) {
        st.announced = true;
        this.opts.handshake(h, st.id, fd);
      }
      return;
    }
    st.app = true;
    if (fd < 0) this.stats.unlinked++;
    const dir = h.dir ? 1 : 0;
    this.opts.data(h, st.id, st.seq[dir]++, fd, it.bytes, it.truncated);
  }

  /** Records that waited too long go out without their socket; idle connections are forgotten. */
  tick(): void {
    const now = this.#now();
    for (const [key, p] of this.#pending) {
      if (now - p.since <= this.#wait) continue;
      this.#pending.delete(key);
      // A handshake marker alone says nothing about a connection nobody can name.
      for (const it of p.items) if (it.bytes) this.#route(it, -1);
    }
    for (const [key, st] of this.#streams) if (now - st.last > this.#idle) this.#streams.delete(key);
  }

  /** Everything still waiting (at exit). */
  flush(): void {
    for (const p of this.#pending.values()) for (const it of p.items) if (it.bytes) this.#route(it, -1);
    this.#pending.clear();
  }

  get waiting(): number {
    let n = 0;
    for (const p of this.#pending.values()) n += p.items.length;
    return n;
  }
}
