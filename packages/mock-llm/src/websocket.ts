// The server side of RFC 6455, as much as the Responses API's WebSocket mode needs: the
// upgrade's accept key, client frames (masked, possibly fragmented) back into messages, and
// unmasked server frames. No extensions are accepted, so no frame is compressed.
import crypto from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** Sec-WebSocket-Accept for a client's Sec-WebSocket-Key. */
export function wsAccept(key: string): string {
  return crypto
    .createHash('sha1')
    .update(key.trim() + GUID)
    .digest('base64');
}

/** One unmasked, unfragmented server frame. */
export function wsFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const n = data.length;
  const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = n;
  else if (n < 65536) {
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, data]);
}

export interface WsMessage {
  opcode: number;
  payload: Buffer;
}

/** Client frames in, whole messages (and control frames) out. */
export class WsReader {
  #buf: Buffer = Buffer.alloc(0);
  #parts: Buffer[] = [];
  #opcode = 0;

  /** Bytes from the socket; returns the messages they complete. Throws on a protocol error. */
  push(d: Buffer): WsMessage[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    const out: WsMessage[] = [];
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) break;
      const fin = (b[0]! & 0x80) !== 0;
      const opcode = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let pos = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        pos = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        pos = 10;
      }
      if (!masked) throw new Error('websocket: client frame not masked');
      if (b.length < pos + 4 + len) break;
      const mask = b.subarray(pos, pos + 4);
      const payload = Buffer.from(b.subarray(pos + 4, pos + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      this.#buf = b.subarray(pos + 4 + len);
      if (opcode >= 8) {
        out.push({ opcode, payload });
        continue;
      }
      if (opcode !== OP.continuation) this.#opcode = opcode;
      this.#parts.push(payload);
      if (fin) {
        out.push({ opcode: this.#opcode, payload: Buffer.concat(this.#parts) });
        this.#parts = [];
      }
    }
    return out;
  }
}
