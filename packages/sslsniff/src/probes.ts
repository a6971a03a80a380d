// Which BPF program pair goes on which TLS function, and the attach cookie that tells the
// shared program the library, the direction and how the call reports its length.
import type { TlsLib } from '@agentsight/events';
import { CK_EX, CK_RET32, CK_WRITE, LIB_IDS } from './record.js';

export interface ProbeSpec {
  enter: 'tls_rw_enter' | 'tls_hs_enter';
  exit: 'tls_rw_exit' | 'tls_hs_exit';
  flags: number;
}

const RW = { enter: 'tls_rw_enter', exit: 'tls_rw_exit' } as const;
const HS = { enter: 'tls_hs_enter', exit: 'tls_hs_exit' } as const;

const SPECS: Record<string, ProbeSpec> = {
  SSL_write: { ...RW, flags: CK_WRITE | CK_RET32 },
  SSL_read: { ...RW, flags: CK_RET32 },
  SSL_write_ex: { ...RW, flags: CK_WRITE | CK_EX },
  SSL_read_ex: { ...RW, flags: CK_EX },
  SSL_do_handshake: { ...HS, flags: 0 },
  gnutls_record_send: { ...RW, flags: CK_WRITE },
  gnutls_record_recv: { ...RW, flags: 0 },
  gnutls_handshake: { ...HS, flags: 0 },
  PR_Write: { ...RW, flags: CK_WRITE | CK_RET32 },
  PR_Send: { ...RW, flags: CK_WRITE | CK_RET32 },
  PR_Read: { ...RW, flags: CK_RET32 },
  PR_Recv: { ...RW, flags: CK_RET32 },
};

/** The probe pair and cookie for a TLS function, or null for a function we do not hook. */
export function probeFor(symbol: string, lib: TlsLib): (ProbeSpec & { cookie: number }) | null {
  const s = SPECS[symbol];
  if (!s) return null;
  return { ...s, cookie: s.flags | LIB_IDS[lib] };
}

export const HOOKED_SYMBOLS = Object.keys(SPECS);
