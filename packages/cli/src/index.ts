/**
 * @agentsight/cli: what every agentsight tool shares on the command line. Common flags
 * (-o, --rotate-mb, --quiet, --strict, --help, --version), exit codes, the 0600 capture
 * file with rotation, signal and closed-pipe handling, and the filter-tool runner that
 * wraps a Stage between an NDJSON reader and writer.
 */
export * from './exit.js';
export * from './output.js';
export * from './tool.js';
