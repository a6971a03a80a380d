import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { libById, TLS_LIB_NAMES, TLS_LIBRARIES } from './tls-libraries.js';

const BPF_SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bpf/sslsniff.bpf.c');

t.test('library ids: distinct, within the cookie byte, read back to their library', async (t) => {
  const ids = TLS_LIB_NAMES.map((l) => TLS_LIBRARIES[l].id);
  t.equal(new Set(ids).size, ids.length, 'distinct');
  for (const l of TLS_LIB_NAMES) {
    const { id } = TLS_LIBRARIES[l];
    t.ok(id > 0 && id <= 0xff, `${l}: ${id} fits CK_LIB_MASK`);
    t.equal(libById(id), l);
  }
  t.equal(libById(0), 'openssl', 'an unknown id reads as OpenSSL');
});

t.test('the BPF program names the same ids as the table', async (t) => {
  const src = readFileSync(BPF_SRC, 'utf8');
  const defines = [...src.matchAll(/^#define LIB_([A-Z0-9]+) (\d+)$/gm)];
  t.ok(defines.length > 0, 'the BPF program defines library ids');
  for (const [, name, id] of defines) {
    const lib = TLS_LIB_NAMES.find((l) => l.toUpperCase() === name);
    t.ok(lib, `LIB_${name} is a library of the table`);
    if (lib) t.equal(TLS_LIBRARIES[lib].id, Number(id), `LIB_${name}`);
  }
});

t.test('libraries exporting the same functions can be told apart by their markers', async (t) => {
  for (const a of TLS_LIB_NAMES)
    for (const b of TLS_LIB_NAMES) {
      if (a >= b || TLS_LIBRARIES[a].functions !== TLS_LIBRARIES[b].functions) continue;
      const ma: readonly string[] = (TLS_LIBRARIES[a] as { markers?: readonly string[] }).markers ?? [];
      const mb: readonly string[] = (TLS_LIBRARIES[b] as { markers?: readonly string[] }).markers ?? [];
      t.ok(ma.length && mb.length && !ma.some((m) => mb.includes(m)), `${a} and ${b}: disjoint markers`);
    }
});
