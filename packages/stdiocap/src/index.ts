/**
 * @agentsight/stdiocap: what a process tree reads from stdin and writes to stdout and
 * stderr, from the kernel (bpf/stdiocap.bpf.c): the kernel's per-call pieces reassembled
 * into binary-safe `stdio`/`data` events, one per read/write call, with a sequence number
 * per stream and counted loss. This is how local MCP servers talk to agents.
 */
export * from './assemble.js';
export * from './self.js';
