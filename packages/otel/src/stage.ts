import { Writable } from 'node:stream';
import { type AgentEvent, type Emit, EventWriter, type Stage } from '@agentsight/events';
import { resolveConfig } from './config.js';
import { type ExporterOptions, type ExportStats, OtlpExporter } from './exporter.js';
import { type MapperOptions, SpanMapper } from './mapper.js';
import type { OtlpSpan } from './otlp.js';

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
  /**
   * Spans completed while the exporter's queue was full and the collector answering: one
   * event can complete many, and the end of input every open agent's at once. They were in
   * memory already (in the mapper); held here until the queue has room, not dropped.
   */
  #held: OtlpSpan[] = [];

  constructor(opts: OtelStageOptions, emit?: Emit) {
    this.exporter = new OtlpExporter(opts);
    this.mapper = new SpanMapper(opts, (s) => {
      if (this.#held.length || this.exporter.full) this.#held.push(s);
      else this.exporter.add(s);
    });
    this.#emit = emit;
  }

  /** True while spans wait for room in the export queue: the input should wait (release()). */
  get holding(): boolean {
    return this.#held.length > 0;
  }

  #releaseSome(): void {
    let i = 0;
    while (i < this.#held.length && !this.exporter.full) this.exporter.add(this.#held[i++]!);
    this.#held.splice(0, i);
  }

  /** Resolves when every held span is in the export queue (or dropped: the collector failed). */
  async release(): Promise<void> {
    for (;;) {
      this.#releaseSome();
      if (!this.#held.length) return;
      // full implies congested, so room() waits for a batch to go out.
      await this.exporter.room();
    }
  }

  write(ev: AgentEvent): void {
    if (this.#held.length) this.#releaseSome();
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
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.release(),
      new Promise((r) => {
        timer = setTimeout(r, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    // Past the deadline: what is still held goes to the queue, which counts what it drops.
    for (const s of this.#held.splice(0)) this.exporter.add(s);
    return this.exporter.shutdown(Math.max(0, deadline - Date.now()));
  }
}

/**
 * An EventWriter standing in for `out` in a reader loop that pauses on `full` and resumes
 * on `drained()` (runFilter): full also while the exporter is congested, so replaying a
 * large capture to a slower (but working) collector slows the reading instead of dropping.
 * Writes go to `out`.
 */
export class FlowControlledWriter extends EventWriter {
  readonly #out: EventWriter;
  readonly #stage: OtelStage;

  constructor(out: EventWriter, stage: OtelStage) {
    super(new Writable({ write: (_c, _e, cb) => cb() }));
    this.#out = out;
    this.#stage = stage;
  }

  override write(ev: AgentEvent | Record<string, unknown>): boolean {
    return this.#out.write(ev);
  }

  override writePayload(head: Record<string, unknown> | string, bytes: Uint8Array): boolean {
    return this.#out.writePayload(head, bytes);
  }

  override get closed(): boolean {
    return this.#out.closed;
  }

  override get full(): boolean {
    return this.#out.full || this.#stage.exporter.congested || this.#stage.holding;
  }

  override async drained(): Promise<void> {
    await this.#out.drained();
    await this.#stage.release();
    await this.#stage.exporter.room();
    await this.#out.drained();
  }
}

export interface OtelFlags {
  endpoint?: string;
  protocol?: string;
  compression?: string;
  headers?: string[];
  serviceName?: string;
  captureContent?: boolean;
}

/**
 * The stage as `agentsight exec --otel` wants it: settings from flags and OTEL_* variables
 * (as as-otel resolves them). Chain it, then `await stage.shutdown(ms)` after the input ends.
 * Throws on a bad endpoint, protocol or compression.
 */
export function otelStageFrom(
  flags: OtelFlags,
  o: { version?: string; warn?: (m: string) => void; env?: NodeJS.ProcessEnv; emit?: Emit } = {},
): OtelStage {
  const cfg = resolveConfig(flags, o.env ?? process.env, o.version);
  return new OtelStage(
    {
      ...cfg,
      scope: { name: 'agentsight.otel', ...(o.version ? { version: o.version } : {}) },
      captureContent: flags.captureContent ?? false,
      ...(o.warn ? { warn: o.warn } : {}),
    },
    o.emit,
  );
}
