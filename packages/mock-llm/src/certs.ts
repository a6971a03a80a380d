import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where the CA and the server certificate live. Keys are mode 0600. */
export interface CertFiles {
  dir: string;
  caPath: string;
  caKeyPath: string;
  certPath: string;
  keyPath: string;
}

export function defaultCertDir(): string {
  const cache = process.env.XDG_CACHE_HOME;
  return cache ? path.join(cache, 'agentsight', 'mock-ca') : path.join(os.tmpdir(), 'agentsight-mock-ca');
}

function filesIn(dir: string): CertFiles {
  return {
    dir,
    caPath: path.join(dir, 'ca.pem'),
    caKeyPath: path.join(dir, 'ca.key'),
    certPath: path.join(dir, 'server.pem'),
    keyPath: path.join(dir, 'server.key'),
  };
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (err.code === 'ENOENT') throw new Error('the openssl command is missing (Debian package "openssl")');
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString().trim() ?? err.message}`);
  }
}

/** Valid for at least another day, and the leaf really chains to this CA. */
function usable(f: CertFiles): boolean {
  try {
    for (const p of [f.caPath, f.caKeyPath, f.certPath, f.keyPath]) fs.accessSync(p, fs.constants.R_OK);
    openssl(['x509', '-in', f.caPath, '-noout', '-checkend', '86400'], f.dir);
    openssl(['x509', '-in', f.certPath, '-noout', '-checkend', '86400'], f.dir);
    openssl(['verify', '-CAfile', f.caPath, f.certPath], f.dir);
    return true;
  } catch {
    return false;
  }
}

/**
 * A CA and a leaf for 127.0.0.1/localhost signed by it. A bare self-signed server
 * certificate is not enough: rustls/webpki-based clients refuse a CA certificate used
 * as an end-entity, so the leaf is a proper v3 serverAuth certificate with SANs.
 */
function generate(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ext = path.join(dir, 'leaf.ext');
  fs.writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid,issuer',
      '',
    ].join('\n'),
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-sha256',
      '-days',
      '3650',
      '-subj',
      '/CN=agentsight mock LLM CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      'ca.pem',
    ],
    dir,
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'], dir);
  openssl(['req', '-new', '-key', 'server.key', '-subj', '/CN=localhost', '-out', 'server.csr'], dir);
  // 825 days: the longest leaf lifetime Apple's TLS stack accepts.
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-sha256',
      '-days',
      '825',
      '-extfile',
      'leaf.ext',
      '-out',
      'server.pem',
    ],
    dir,
  );
  for (const k of ['ca.key', 'server.key']) fs.chmodSync(path.join(dir, k), 0o600);
  for (const junk of ['server.csr', 'leaf.ext', 'ca.srl']) fs.rmSync(path.join(dir, junk), { force: true });
}

/**
 * Return the certificate files in `dir`, generating them on first use or when they are
 * about to expire. Several processes may start at once (parallel tests): each generates
 * into a private directory and renames it into place, so a reader never sees half a set.
 */
export function ensureCerts(dir: string = defaultCertDir()): CertFiles {
  const want = filesIn(dir);
  if (fs.existsSync(dir) && usable(want)) return want;
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  generate(tmp);
  if (fs.existsSync(dir)) {
    if (usable(want)) {
      fs.rmSync(tmp, { recursive: true, force: true });
      return want;
    }
    const old = `${dir}.old-${process.pid}-${Date.now()}`;
    try {
      fs.renameSync(dir, old);
      fs.rmSync(old, { recursive: true, force: true });
    } catch {
      /* someone else replaced it */
    }
  }
  try {
    fs.renameSync(tmp, dir);
  } catch {
    // Lost the race to another process: theirs is as good as ours.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!usable(want)) throw new Error(`${dir}: certificate set is unusable and could not be replaced`);
  }
  return want;
}
