/** Exit codes, the same for every tool and documented in each man page. */
export const EXIT = {
  OK: 0,
  /** Runtime failure: the tool started but could not do its job. */
  FAILURE: 1,
  /** Bad command line, or a tool that is not built yet. */
  USAGE: 2,
  /** A privilege or kernel capability is missing; the message names it. (sysexits EX_NOPERM-ish; 77 as in automake "skip".) */
  NOPERM: 77,
} as const;

/** An error that carries the exit code the tool should end with. */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly code: number = EXIT.FAILURE,
  ) {
    super(message);
  }
}
