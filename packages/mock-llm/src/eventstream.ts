// AWS event-stream framing, the encoding side (what Bedrock's streaming responses are made
// of): prelude (total length, headers length, CRC32 of both), string headers, payload,
// CRC32 of the whole message.
import { crc32 } from 'node:zlib';

export function eventStreamMessage(headers: Record<string, string>, payload: Buffer | string): Buffer {
  const hs = Object.entries(headers).map(([k, v]) => {
    const name = Buffer.from(k, 'utf8');
    const val = Buffer.from(v, 'utf8');
    const h = Buffer.alloc(4 + name.length + val.length);
    h[0] = name.length;
    name.copy(h, 1);
    h[1 + name.length] = 7; // string
    h.writeUInt16BE(val.length, 2 + name.length);
    val.copy(h, 4 + name.length);
    return h;
  });
  const hb = Buffer.concat(hs);
  const pb = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const total = 12 + hb.length + pb.length + 4;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(hb.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  hb.copy(out, 12);
  pb.copy(out, 12 + hb.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

/** An event message as Bedrock sends them. */
export function eventStreamEvent(eventType: string, payload: unknown): Buffer {
  return eventStreamMessage(
    { ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' },
    JSON.stringify(payload),
  );
}
