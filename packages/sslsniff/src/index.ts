/**
 * @agentsight/sslsniff: TLS plaintext capture. Target discovery (which files carry which
 * TLS library and where its read/write functions are, including stripped static BoringSSL
 * in Bun and Claude Code, and Go's crypto/tls) and the uprobe capture that feeds as-sslsniff.
 */

export * from './assemble.js';
export * from './awslc.js';
export * from './boringssl.js';
export * from './capture.js';
export * from './discover.js';
export * from './elf.js';
export * from './go-symtab.js';
export * from './hostpath.js';
export * from './probes.js';
export * from './procs.js';
export * from './record.js';
export * from './targets.js';
export * from './tls-libraries.js';
export * from './tlscache.js';
