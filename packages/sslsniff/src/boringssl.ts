/**
 * Stripped static BoringSSL: find SSL_write/SSL_read in binaries without symbols.
 * (Heuristic being written; this placeholder finds nothing.)
 */
import type { ElfFile } from './elf.js';
import type { TlsSymbol } from './targets.js';

export interface BoringSslResult {
  symbols: TlsSymbol[];
  note?: string;
}

export function locateBoringSsl(_elf: ElfFile, _log?: (msg: string) => void): BoringSslResult | null {
  return null;
}
