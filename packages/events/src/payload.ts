import { isUtf8 } from 'node:buffer';
import type { Payload } from './types.js';

/** Encode bytes so they survive JSON exactly: as text when valid UTF-8, else base64. */
export function encodePayload(bytes: Uint8Array): Payload {
  if (isUtf8(bytes))
    return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), enc: 'utf8' };
  return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'), enc: 'base64' };
}

/** `head` with the payload of `bytes` added as its `data` and `enc` (head is extended, not copied). */
export function withPayload<H extends object>(head: H, bytes: Uint8Array): H & Payload {
  return Object.assign(head, encodePayload(bytes));
}

/** The exact bytes a payload holds. */
export function decodePayload(p: Payload): Buffer {
  return p.enc === 'base64' ? Buffer.from(p.data, 'base64') : Buffer.from(p.data, 'utf8');
}
