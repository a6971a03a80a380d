/**
 * @agentsight/proc: the action stream from the kernel. Decodes the records of
 * bpf/proc.bpf.c (exec with argv and cwd, fork, exit with status and duration, opens with
 * absolute paths, unlink/rename, connect/bind/listen) into `proc` events; keeps the
 * tracked process tree (seeded from /proc for -p/-c, gated start for --cmd, maintained in
 * the kernel on fork/exit); folds noisy paths; samples per-process metrics from /proc.
 * The session runtime here is shared with @agentsight/stdiocap.
 */
export * from './decode.js';
export * from './events.js';
export * from './paths.js';
export * from './procfs.js';
export * from './run.js';
export * from './session.js';
