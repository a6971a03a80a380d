import type { AgentEvent, Emit, Stage } from '@agentsight/events';
import { redactForStore } from './redact.js';

/**
 * Every event on, with its secrets replaced (see redactForStore): what goes into an export,
 * a store or a capture file when the events did not all come through as-http (stdio, argv,
 * MCP calls) or were captured with --no-redact.
 */
export class RedactStage implements Stage {
  readonly #emit: Emit;
  constructor(emit: Emit) {
    this.#emit = emit;
  }
  write(ev: AgentEvent): void {
    this.#emit(redactForStore(ev).ev);
  }
  end(): void {}
}
