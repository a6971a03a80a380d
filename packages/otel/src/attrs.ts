// The OTLP/JSON shape of attribute values, built with explicit types because the
// conventions fix them (temperature is a double even when it is 1, token counts are ints).

export type AnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: number }
  | { doubleValue: number }
  | { arrayValue: { values: AnyValue[] } }
  | { kvlistValue: { values: KeyValue[] } };

export interface KeyValue {
  key: string;
  value: AnyValue;
}

/** Collects attributes in insertion order, skipping absent values. */
export class Attrs {
  readonly list: KeyValue[] = [];

  str(key: string, v: unknown): this {
    if (typeof v === 'string') this.list.push({ key, value: { stringValue: v } });
    else if (typeof v === 'number' && Number.isFinite(v)) this.list.push({ key, value: { stringValue: String(v) } });
    return this;
  }

  int(key: string, v: unknown): this {
    if (typeof v === 'number' && Number.isSafeInteger(v)) this.list.push({ key, value: { intValue: v } });
    return this;
  }

  dbl(key: string, v: unknown): this {
    if (typeof v === 'number' && Number.isFinite(v)) this.list.push({ key, value: { doubleValue: v } });
    return this;
  }

  bool(key: string, v: unknown): this {
    if (typeof v === 'boolean') this.list.push({ key, value: { boolValue: v } });
    return this;
  }

  strs(key: string, v: unknown): this {
    if (typeof v === 'string') v = [v];
    if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string')) {
      this.list.push({ key, value: { arrayValue: { values: (v as string[]).map((s) => ({ stringValue: s })) } } });
    }
    return this;
  }

  /** A structured value recorded as a JSON string: the form every backend can show. */
  json(key: string, v: unknown): this {
    if (v === undefined) return this;
    this.list.push({ key, value: { stringValue: typeof v === 'string' ? v : JSON.stringify(v) } });
    return this;
  }

  get(key: string): AnyValue | undefined {
    return this.list.find((kv) => kv.key === key)?.value;
  }
}

/** Attributes from `k=v,k2=v2` (OTEL_RESOURCE_ATTRIBUTES), values percent-decoded. */
export function parseKeyValueList(s: string | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!s) return out;
  for (const item of s.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    const k = item.slice(0, eq).trim();
    let v = item.slice(eq + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      /* keep the raw text */
    }
    if (k) out.push([k, v]);
  }
  return out;
}

/** Rough byte size of a value, for bounding the export queue by memory as well as count. */
export function sizeOf(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (typeof v === 'number' || typeof v === 'boolean') return 8;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + sizeOf(x), 16);
  if (v && typeof v === 'object') {
    let n = 16;
    for (const [k, x] of Object.entries(v)) n += k.length + sizeOf(x);
    return n;
  }
  return 0;
}
