import type { AgentEvent, Emit, Stage } from '@agentsight/events';
import { OtlpExporter, type ExporterOptions, type ExportStats } from './exporter.js';
import { SpanMapper, type MapperOptions } from './mapper.js';

export interface OtelStageOptions extends MapperOptions, ExporterOptions {}

/**
 * The export as a pipeline stage: events in, spans out to the collector. Events are
 * passed on unchanged to `emit` when one is given, so the stage can sit anywhere in an
 * in-process chain. `end()` turns the open agents into root spans; then `shutdown()`
 * waits (boundedly) for the queue to drain.
 */
export class OtelStage implements Stage {
  readonly exporter: OtlpExporter;
  readonly mapper: SpanMapper;
  readonly #emit: Emit | undefined;

  constructor(opts: OtelStageOptions, emit?: Emit) {
    this.exporter = new OtlpExporter(opts);
    this.mapper = new SpanMapper(opts, (s) => this.exporter.add(s));
    this.#emit = emit;
  }

  write(ev: AgentEvent): void {
    this.mapper.write(ev);
    this.#emit?.(ev);
  }

  tick(nowUs: number): void {
    this.mapper.tick(nowUs);
  }

  end(): void {
    this.mapper.end();
  }

  /** End (if not yet), flush with a deadline, and report what happened. */
  async shutdown(timeoutMs: number): Promise<ExportStats> {
    this.mapper.end();
    return this.exporter.shutdown(timeoutMs);
  }
}
