// The TLS libraries as-sslsniff captures: one row each, and the one place a new library
// is added. Discovery (targets.ts), the probes and their cookies (probes.ts), the record
// decoding (assemble.ts), the listing and the tool's messages all read this table. The
// library names are the `lib` of ssl events (TlsLib, @agentsight/events); the ids are the
// cookie's low byte the BPF program reads (LIB_* in bpf/sslsniff.bpf.c, checked by
// tls-libraries.test.ts).
import type { TlsLib } from '@agentsight/events';
import { CK_EX, CK_RET32, CK_SCATTER, CK_WRITE } from './record.js';

/** The BPF program pair on a function, and how the call reports direction and length. */
export interface ProbeSpec {
  enter: 'tls_rw_enter' | 'tls_hs_enter' | 'go_tls_enter' | 'aead_seal' | 'aead_open_enter';
  /** None where the entry sees everything (a seal's plaintext is its input). */
  exit?: 'tls_rw_exit' | 'tls_hs_exit' | 'go_tls_ret' | 'aead_open_exit';
  flags: number;
  /**
   * The exit program goes on each return instruction of the function (TlsSymbol.returns) as
   * a plain uprobe, not as a uretprobe: Go moves goroutine stacks, and a uretprobe's swapped
   * return address moves with them.
   */
  atReturns?: boolean;
}

export interface TlsLibrary {
  /** How messages and --help name it. */
  title: string;
  /** The attach cookie's library id (the BPF side's LIB_*). */
  id: number;
  /** The functions hooked, by symbol: what discovery looks for and which probe each gets. */
  functions: Readonly<Record<string, ProbeSpec>>;
  /**
   * Symbols only this library defines, telling it apart from another exporting the same
   * functions (BoringSSL and OpenSSL both export SSL_read).
   */
  markers?: readonly string[];
  /**
   * A file that needs these from elsewhere is a compatibility shim over another library,
   * whose own probes already see the bytes.
   */
  shimIfImports?: readonly string[];
  /**
   * Stripped static builds are found by a scan for the library's error codes: boringssl.ts
   * (SSL_*), awslc.ts (rustls over aws-lc's AEAD).
   */
  locator?: 'boringssl' | 'awslc';
  /**
   * Only through the locator, never by symbol: the functions are generic (aws-lc's AEAD
   * serves more than TLS records), so only a binary that carries this library has them hooked.
   */
  locatorOnly?: boolean;
  /**
   * Found through the Go runtime's own symbol table (go-symtab.ts), never ELF symbols: the
   * functions are Go methods, and their exits need the return instructions located.
   */
  goRuntime?: boolean;
  /** The shared library on a system, names in preference order (--system). */
  systemFiles: readonly string[];
  /** ... hooked only where one of these is installed too. */
  systemOnlyWith?: readonly string[];
  /** What the handshake function returns on success. */
  handshakeOk: number;
}

/** A library function found in a file. */
export interface TlsSymbol {
  name: string;
  /** File offset of the function's first instruction: what uprobes attach by. */
  offset: number;
  method: 'dynsym' | 'symtab' | 'heuristic' | 'pclntab';
  /** File offsets of the function's return instructions, for probes placed atReturns. */
  returns?: number[];
}

const RW = { enter: 'tls_rw_enter', exit: 'tls_rw_exit' } as const;
const HS = { enter: 'tls_hs_enter', exit: 'tls_hs_exit' } as const;
const GO = { enter: 'go_tls_enter', exit: 'go_tls_ret', atReturns: true } as const;

const SSL_FUNCTIONS = {
  SSL_write: { ...RW, flags: CK_WRITE | CK_RET32 },
  SSL_read: { ...RW, flags: CK_RET32 },
  SSL_write_ex: { ...RW, flags: CK_WRITE | CK_EX },
  SSL_read_ex: { ...RW, flags: CK_EX },
  SSL_do_handshake: { ...HS, flags: 0 },
} as const;

export const TLS_LIBRARIES = {
  openssl: {
    title: 'OpenSSL',
    id: 1,
    functions: SSL_FUNCTIONS,
    // Not OpenSSL_version: BoringSSL keeps it for compatibility.
    markers: ['OPENSSL_version_major', 'OPENSSL_init_crypto', 'OSSL_PROVIDER_load', 'SSL_CTX_set_ciphersuites'],
    // GnuTLS's libgnutls-openssl: its SSL_write calls gnutls_record_send.
    shimIfImports: ['gnutls_record_send'],
    systemFiles: ['libssl.so.3', 'libssl.so.1.1'],
    handshakeOk: 1,
  },
  boringssl: {
    title: 'BoringSSL',
    id: 2,
    functions: SSL_FUNCTIONS,
    markers: [
      'BORINGSSL_self_test',
      'CRYPTO_is_confidential_build',
      'SSL_CTX_set_grease_enabled',
      'SSL_set_strict_cipher_list',
      'SSL_CTX_set_strict_cipher_list',
      'BORINGSSL_integrity_test',
    ],
    // Bun and the Claude Code binary link it statically and strip it.
    locator: 'boringssl',
    systemFiles: [],
    handshakeOk: 1,
  },
  gnutls: {
    title: 'GnuTLS',
    id: 3,
    functions: {
      gnutls_record_send: { ...RW, flags: CK_WRITE },
      gnutls_record_recv: { ...RW, flags: 0 },
    },
    systemFiles: ['libgnutls.so.30'],
    handshakeOk: 0,
  },
  nss: {
    // NSS does its plaintext I/O through NSPR's PR_Write/PR_Read on the SSL layer, so
    // libnspr4 is hooked, but only where NSS is installed: otherwise NSPR I/O is not TLS.
    title: 'NSS',
    id: 4,
    functions: {
      PR_Write: { ...RW, flags: CK_WRITE | CK_RET32 },
      PR_Send: { ...RW, flags: CK_WRITE | CK_RET32 },
      PR_Read: { ...RW, flags: CK_RET32 },
      PR_Recv: { ...RW, flags: CK_RET32 },
    },
    systemFiles: ['libnspr4.so'],
    systemOnlyWith: ['libssl3.so', 'libnss3.so'],
    handshakeOk: 1,
  },
  rustls: {
    // rustls has no plaintext boundary in C: its records are sealed and opened by aws-lc's
    // AEAD (the default crypto provider, aws-lc-rs), hooked instead. Each call is one TLS
    // record; the BPF side keeps application data only, and user space (rustls.ts) puts
    // the two directions of a connection together by socket.
    title: 'rustls (aws-lc)',
    id: 5,
    functions: {
      EVP_AEAD_CTX_seal: { enter: 'aead_seal', flags: CK_WRITE },
      EVP_AEAD_CTX_seal_scatter: { enter: 'aead_seal', flags: CK_WRITE | CK_SCATTER },
      EVP_AEAD_CTX_open: { enter: 'aead_open_enter', exit: 'aead_open_exit', flags: 0 },
      EVP_AEAD_CTX_open_gather: { enter: 'aead_open_enter', exit: 'aead_open_exit', flags: CK_SCATTER },
    },
    locator: 'awslc',
    locatorOnly: true,
    systemFiles: [],
    // Sessions start at the first EncryptedExtensions or Finished record (rustls.ts).
    handshakeOk: 1,
  },
  go: {
    // Go's crypto/tls, in Go programs (register ABI, Go 1.17 on). The handshake is not
    // hooked: a tls.Conn is one session, and Write/Read run it first.
    title: 'Go crypto/tls',
    id: 6,
    functions: {
      'crypto/tls.(*Conn).Write': { ...GO, flags: CK_WRITE },
      'crypto/tls.(*Conn).Read': { ...GO, flags: 0 },
    },
    goRuntime: true,
    systemFiles: [],
    handshakeOk: 1,
  },
} as const satisfies Record<TlsLib, TlsLibrary>;

export const TLS_LIB_NAMES = Object.keys(TLS_LIBRARIES) as TlsLib[];

const BY_ID: TlsLib[] = [];
for (const l of TLS_LIB_NAMES) BY_ID[TLS_LIBRARIES[l].id] = l;

/** The library of a cookie or record id; unknown ids read as OpenSSL. */
export function libById(id: number): TlsLib {
  return BY_ID[id] ?? 'openssl';
}

/** "OpenSSL, BoringSSL, GnuTLS, NSS, rustls (aws-lc), Go crypto/tls". */
export const TLS_TITLES = TLS_LIB_NAMES.map((l) => TLS_LIBRARIES[l].title).join(', ');

/** "SSL_write, SSL_read, ..., PR_Recv": what discovery looks for, for messages. */
export const TLS_FUNCTION_NAMES = [
  ...new Set(TLS_LIB_NAMES.flatMap((l) => Object.keys(TLS_LIBRARIES[l].functions))),
].join(', ');

/** "libssl.so.3, libssl.so.1.1, libgnutls.so.30, libnspr4.so". */
export const TLS_SYSTEM_FILES = TLS_LIB_NAMES.flatMap((l) => TLS_LIBRARIES[l].systemFiles).join(', ');
