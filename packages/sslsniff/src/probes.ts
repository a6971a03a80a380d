// Which BPF program pair goes on which TLS function, and the attach cookie that tells the
// shared program the library, the direction and how the call reports its length.
import type { TlsLib } from '@agentsight/events';
import { type ProbeSpec, TLS_LIB_NAMES, TLS_LIBRARIES } from './tls-libraries.js';

export type { ProbeSpec };

/** The probe pair and cookie for a TLS function, or null for a function we do not hook. */
export function probeFor(symbol: string, lib: TlsLib): (ProbeSpec & { cookie: number }) | null {
  const l: { id: number; functions: Readonly<Record<string, ProbeSpec>> } = TLS_LIBRARIES[lib];
  const s = Object.hasOwn(l.functions, symbol) ? l.functions[symbol]! : null;
  return s && { ...s, cookie: s.flags | l.id };
}

export const HOOKED_SYMBOLS = [...new Set(TLS_LIB_NAMES.flatMap((l) => Object.keys(TLS_LIBRARIES[l].functions)))];
