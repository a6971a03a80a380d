import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { defaultCertDir, ensureCerts } from './certs.js';

const tmp = (t: { teardown(fn: () => void): void }) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mock-llm-ca-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};

t.test('a CA and a server certificate for 127.0.0.1/localhost that it signed', async (t) => {
  const dir = path.join(tmp(t), 'ca');
  const f = ensureCerts(dir);
  for (const k of [f.caKeyPath, f.keyPath]) t.equal(fs.statSync(k).mode & 0o777, 0o600, `${path.basename(k)} is 0600`);
  const ca = new X509Certificate(fs.readFileSync(f.caPath));
  const leaf = new X509Certificate(fs.readFileSync(f.certPath));
  t.ok(ca.ca, 'the CA is a CA');
  t.notOk(leaf.ca, 'the leaf is not a CA (webpki/rustls reject a CA certificate as end-entity)');
  t.ok(leaf.verify(ca.publicKey), 'the leaf is signed by the CA');
  t.ok(leaf.checkIP('127.0.0.1'), 'valid for 127.0.0.1');
  t.ok(leaf.checkHost('localhost'), 'valid for localhost');
  t.match(leaf.keyUsage ?? [], ['1.3.6.1.5.5.7.3.1'], 'extended key usage serverAuth');
  // OpenSSL's strict mode applies the RFC 5280 checks stricter verifiers make.
  t.doesNotThrow(() =>
    execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', f.caPath, f.certPath], {
      stdio: 'pipe',
    }),
  );
  const before = fs.readFileSync(f.certPath);
  ensureCerts(dir);
  t.ok(fs.readFileSync(f.certPath).equals(before), 'reused while valid');
});

t.test('a broken set is replaced', async (t) => {
  const dir = path.join(tmp(t), 'ca');
  const f = ensureCerts(dir);
  const oldCa = fs.readFileSync(f.caPath);
  fs.writeFileSync(f.certPath, 'not a certificate');
  const g = ensureCerts(dir);
  t.doesNotThrow(() => execFileSync('openssl', ['verify', '-CAfile', g.caPath, g.certPath], { stdio: 'pipe' }));
  t.notOk(fs.readFileSync(g.caPath).equals(oldCa), 'a fresh CA');
});

t.test('processes starting at once agree on one set', async (t) => {
  const parent = tmp(t);
  const dir = path.join(parent, 'ca');
  const mod = fileURLToPath(new URL('./certs.js', import.meta.url));
  const script = `import { ensureCerts } from ${JSON.stringify(mod)}; const f = ensureCerts(${JSON.stringify(dir)}); const fs = await import('node:fs'); process.stdout.write(fs.readFileSync(f.caPath, 'utf8'));`;
  const outs = await Promise.all(
    [0, 1, 2, 3].map(
      () =>
        new Promise<string>((resolve, reject) => {
          const c = spawn(process.execPath, ['--input-type=module', '-e', script], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let o = '';
          let e = '';
          c.stdout.on('data', (d: Buffer) => {
            o += d;
          });
          c.stderr.on('data', (d: Buffer) => {
            e += d;
          });
          const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
          c.on('close', (code) => {
            clearTimeout(timer);
            if (code === 0) resolve(o);
            else reject(new Error(e));
          });
        }),
    ),
  );
  const final = fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8');
  t.ok(
    outs.every((o) => o.startsWith('-----BEGIN CERTIFICATE-----')),
    'each got a CA',
  );
  // Losers of the rename race throw their own set away and use the winner's.
  t.same(
    outs,
    outs.map(() => final),
    'all read the CA that is in place',
  );
  t.same(fs.readdirSync(parent), ['ca'], 'no temporary directories left behind');
});

t.test('the default directory follows XDG_CACHE_HOME', async (t) => {
  const saved = process.env.XDG_CACHE_HOME;
  t.teardown(() => {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  });
  process.env.XDG_CACHE_HOME = '/x/cache';
  t.equal(defaultCertDir(), '/x/cache/agentsight/mock-ca');
  delete process.env.XDG_CACHE_HOME;
  t.equal(defaultCertDir(), path.join(os.tmpdir(), 'agentsight-mock-ca'));
});
