// A throwaway ClickHouse server (Debian's clickhouse-server) on temporary directories and a
// free port, for tests and benches: never the system service, and stoppable mid-run and
// restartable on the same data, which is how the sink's buffer is exercised.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const CLICKHOUSE_SERVER = '/usr/sbin/clickhouse-server';

/** Whether a ClickHouse server binary is installed here (`make deps` installs Debian's). */
export function haveClickHouse(): boolean {
  return fs.existsSync(CLICKHOUSE_SERVER);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const USERS = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

export interface TestClickHouse {
  url: string;
  dir: string;
  /** Start (or start again, on the same data and port). Resolves once it answers /ping. */
  start(): Promise<void>;
  /** Stop it (SIGTERM, SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Stop it and remove its directories. */
  close(): Promise<void>;
}

export async function startClickHouse(opts: { host?: string } = {}): Promise<TestClickHouse> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-clickhouse-'));
  const host = opts.host ?? '127.0.0.1';
  const [http, tcp] = [await freePort(), await freePort()];
  for (const d of ['data', 'tmp', 'user_files', 'format_schemas']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'users.xml'), USERS);
  fs.writeFileSync(
    path.join(dir, 'config.xml'),
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/server.err.log</errorlog><size>10M</size><count>1</count></logger>
  <http_port>${http}</http_port>
  <tcp_port>${tcp}</tcp_port>
  <listen_host>${host}</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
</yandex>
`,
  );
  const url = `http://${host}:${http}`;
  let child: ChildProcess | undefined;
  let stderr = '';
  const ch: TestClickHouse = {
    url,
    dir,
    async start() {
      if (child) return;
      stderr = '';
      const c = spawn(CLICKHOUSE_SERVER, [`--config-file=${dir}/config.xml`], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child = c;
      // A test that dies before its teardown must not leave a server behind.
      const reap = () => c.kill('SIGKILL');
      process.once('exit', reap);
      c.once('exit', () => process.off('exit', reap));
      c.stderr!.on('data', (d) => {
        stderr += d;
      });
      let exited: number | null | undefined;
      c.on('exit', (code) => {
        exited = code;
        if (child === c) child = undefined;
      });
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (exited !== undefined) {
          let log = '';
          try {
            log = fs.readFileSync(path.join(dir, 'server.err.log'), 'utf8').slice(-2000);
          } catch {}
          throw new Error(`clickhouse-server exited ${exited}: ${stderr.slice(-2000)}${log}`);
        }
        try {
          const r = await fetch(`${url}/ping`);
          if (r.ok) return;
        } catch {}
        if (Date.now() > deadline) throw new Error(`clickhouse-server did not answer on ${url}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      const c = child;
      if (!c) return;
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
        c.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        c.kill('SIGTERM');
      });
      child = undefined;
    },
    async close() {
      await ch.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return ch;
}

/** Rows of a query, over the HTTP interface with nothing in between (the check, not the code under test). */
export function queryJSON(url: string, sql: string): unknown[] {
  const r = spawnSync('curl', ['-sS', '--fail-with-body', '--data-binary', `${sql} FORMAT JSONEachRow`, url], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`${sql}: ${r.stdout}${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}
