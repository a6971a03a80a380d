import fs from 'node:fs';
import { Writable } from 'node:stream';

export interface OutputOptions {
  /** Rotate when the file would grow past this many MiB (0 or undefined: never). */
  rotateMb?: number;
  /** Rotated files kept: FILE.1 (newest) … FILE.N. */
  keep?: number;
}

/**
 * An append-only capture file, created 0600 because captures hold prompts and keys.
 * With rotation the current file is renamed FILE.1 (older ones shift up) before a write
 * that would take it past the limit; a single write is never split across files, so
 * every file holds whole lines.
 */
export class CaptureFile extends Writable {
  #fd: number;
  #size: number;
  readonly path: string;
  readonly #limit: number;
  readonly #keep: number;

  constructor(path: string, opts: OutputOptions = {}) {
    super({ highWaterMark: 1 << 20 });
    this.path = path;
    this.#limit = opts.rotateMb ? opts.rotateMb * 1024 * 1024 : 0;
    this.#keep = opts.keep ?? 5;
    this.#fd = CaptureFile.#open(path);
    this.#size = fs.fstatSync(this.#fd).size;
  }

  static #open(path: string): number {
    const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o600);
    // O_CREAT's mode does not apply to a file that already existed, nor past the umask.
    fs.fchmodSync(fd, 0o600);
    return fd;
  }

  #rotate(): void {
    fs.closeSync(this.#fd);
    for (let i = this.#keep - 1; i >= 1; i--) {
      try {
        fs.renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch {
        /* gap in the series */
      }
    }
    fs.renameSync(this.path, `${this.path}.1`);
    this.#fd = CaptureFile.#open(this.path);
    this.#size = 0;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    try {
      if (this.#limit && this.#size > 0 && this.#size + chunk.length > this.#limit) this.#rotate();
    } catch (e) {
      return cb(e as Error);
    }
    fs.write(this.#fd, chunk, 0, chunk.length, null, (err, n) => {
      if (err) return cb(err);
      this.#size += n;
      if (n < chunk.length) return this._write(chunk.subarray(n), _enc, cb);
      cb();
    });
  }

  override _final(cb: (e?: Error | null) => void): void {
    fs.close(this.#fd, (e) => cb(e));
  }
}

/** stdout, or a capture file when `path` is given (and is not "-"). */
export function openOutput(path: string | undefined, opts: OutputOptions = {}): Writable {
  if (!path || path === '-') return process.stdout;
  return new CaptureFile(path, opts);
}
