import t from 'tap';
import { summaryLine } from './capture.js';
import { HOOKED_SYMBOLS, probeFor } from './probes.js';
import { CK_EX, CK_RET32, CK_WRITE, STATS_FIELDS, sumStats } from './record.js';
import { TLS_LIBRARIES } from './tls-libraries.js';

const LIB_IDS = { openssl: 1, boringssl: 2, gnutls: 3, nss: 4 };

t.test('every function discovery can return has a probe', async (t) => {
  for (const l of Object.values(TLS_LIBRARIES))
    for (const f of Object.keys(l.functions)) t.ok(HOOKED_SYMBOLS.includes(f), f);
});

t.test('cookies say library, direction and how the length comes back', async (t) => {
  const c = (sym: string, lib: Parameters<typeof probeFor>[1]) => probeFor(sym, lib)!;
  t.equal(c('SSL_write', 'openssl').cookie, LIB_IDS.openssl | CK_WRITE | CK_RET32);
  t.equal(c('SSL_read', 'boringssl').cookie, LIB_IDS.boringssl | CK_RET32);
  t.equal(c('SSL_write_ex', 'openssl').cookie, LIB_IDS.openssl | CK_WRITE | CK_EX);
  t.equal(c('SSL_read_ex', 'openssl').cookie, LIB_IDS.openssl | CK_EX);
  // gnutls returns ssize_t: the full 64-bit return value is the length.
  t.equal(c('gnutls_record_send', 'gnutls').cookie, LIB_IDS.gnutls | CK_WRITE);
  t.equal(c('gnutls_record_recv', 'gnutls').cookie, LIB_IDS.gnutls);
  t.equal(c('PR_Send', 'nss').cookie, LIB_IDS.nss | CK_WRITE | CK_RET32);
  t.equal(c('PR_Recv', 'nss').cookie, LIB_IDS.nss | CK_RET32);
  t.equal(c('SSL_do_handshake', 'openssl').enter, 'tls_hs_enter');
  t.equal(c('SSL_write', 'openssl').exit, 'tls_rw_exit');
  t.equal(probeFor('SSL_free', 'openssl'), null);
});

t.test('per-CPU counters are summed field by field', async (t) => {
  const cpu = (k: number) => {
    const b = Buffer.alloc(8 * STATS_FIELDS.length);
    STATS_FIELDS.forEach((_, i) => b.writeBigUInt64LE(BigInt((i + 1) * k), i * 8));
    return b;
  };
  const s = sumStats([cpu(1), cpu(10)]);
  t.equal(s.calls, 11);
  t.equal(s.cappedBytes, 88);
});

t.test('the stderr summary states loss and its remedy', async (t) => {
  const k = {
    calls: 10,
    bytes: 1 << 21,
    records: 130,
    recBytes: 1 << 20,
    dropRecords: 64,
    dropBytes: 1 << 20,
    faults: 0,
    cappedBytes: 0,
  };
  const u = { calls: 10, bytes: 1 << 20, handshakes: 1, truncated: 1, orphans: 0 };
  const line = summaryLine(k, u);
  t.match(
    line,
    /^10 calls, 1\.0 MiB captured \(50\.00% of 2\.0 MiB seen\) in 130 records; LOST 64 records, 1\.0 MiB \(ring full: raise --ring-mb\); 1 calls truncated$/,
  );
  t.match(
    summaryLine({ ...k, recBytes: k.bytes, dropRecords: 0, dropBytes: 0 }, { ...u, truncated: 0 }),
    /\(100% of 2\.0 MiB seen\) in 130 records$/,
  );
});
