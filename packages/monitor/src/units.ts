// Sizes and ages as people write them on a command line (2G, 500M, 30d, 12h).

const SIZE: Record<string, number> = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40 };
const AGE: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** Bytes from `2G`, `500M`, `64k`, `1.5GiB` or a plain number (powers of 1024); throws on anything else. */
export function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(s);
  if (!m) throw new Error(`${JSON.stringify(s)}: want a size such as 2G, 500M or 64k`);
  return Math.round(Number(m[1]) * SIZE[m[2]!.toLowerCase()]!);
}

/** Milliseconds from `30d`, `12h`, `90m`, `45s`, `2w` (a plain number is days); throws on anything else. */
export function parseAge(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$/i.exec(s);
  if (!m) throw new Error(`${JSON.stringify(s)}: want an age such as 30d, 12h or 90m`);
  return Math.round(Number(m[1]) * AGE[(m[2] || 'd').toLowerCase()]!);
}

/** `2.0 GiB`, `512 MiB`, `3.4 KiB`: for messages. */
export function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i && v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}
