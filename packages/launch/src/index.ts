/**
 * @agentsight/launch: starting an agent the way its user would. Resolves the command through
 * PATH (and, under sudo, the user's own bin directories), follows symlinks and `#!` wrappers
 * to the ELF that carries TLS, and starts it gated: as the sudo user, attached to the
 * terminal, held until tracing is attached to its pid, then released. Used by
 * `agentsight exec` and by the `--cmd` mode of as-proc and as-stdiocap.
 */
export * from './resolve.js';
export * from './spawn.js';
