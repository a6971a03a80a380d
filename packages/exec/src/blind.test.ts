import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { BlindTls, uncapturedTls } from './blind.js';

const ev = (e: Record<string, unknown>) => ({ v: 1, ts: 1, ...e }) as unknown as AgentEvent;

t.test('a blind process that connected is named with its peers; DNS, refusals and captured ones are not', async (t) => {
  const b = new BlindTls();
  b.mark(10, 'codex', 'rustls, static');
  b.see(ev({ src: 'proc', type: 'fork', pid: 11, ppid: 10, comm: 'codex' }));
  b.see(ev({ src: 'proc', type: 'connect', pid: 10, family: 'inet', addr: '10.0.0.53', port: 53, ret: 0 }));
  b.see(ev({ src: 'proc', type: 'connect', pid: 10, family: 'inet', addr: '1.2.3.4', port: 443, ret: -115 }));
  b.see(ev({ src: 'proc', type: 'connect', pid: 10, family: 'inet', addr: '1.2.3.4', port: 443, ret: 0 }));
  b.see(ev({ src: 'proc', type: 'connect', pid: 10, family: 'inet', addr: '5.6.7.8', port: 443, ret: -111 }));
  b.see(ev({ src: 'proc', type: 'connect', pid: 11, family: 'inet6', addr: '::1', port: 8443, ret: 0 }));
  b.see(ev({ src: 'proc', type: 'connect', pid: 99, family: 'inet', addr: '9.9.9.9', port: 443, ret: 0 }));
  t.same(
    b.lines(),
    [
      'not captured: pid 10 codex (rustls, static) -> 1.2.3.4:443',
      'not captured: pid 11 codex (rustls, static) -> [::1]:8443',
    ],
    'a fork of a blind process is blind too; other processes are not reported',
  );
  b.see(ev({ src: 'ssl', type: 'data', pid: 11, conn: 'c', dir: 'write', seq: 0, len: 1, data: 'x', enc: 'utf8' }));
  t.same(b.lines().length, 1, 'a process whose TLS was seen after all is not reported');
});

t.test('uncapturedTls: a dynamic program may use the system TLS library; a missing file is no claim', async (t) => {
  t.equal(uncapturedTls('/bin/sh'), null);
  t.equal(uncapturedTls('/nonexistent/bin'), null);
});

t.test('bounded: the oldest processes are forgotten past MAX, and a process keeps 64 peers at most', async (t) => {
  const b = new BlindTls();
  for (let pid = 1; pid <= BlindTls.MAX + 10; pid++) b.mark(pid, 'go', 'go, static');
  t.notOk(b.has(1), 'the first one is forgotten');
  t.ok(b.has(BlindTls.MAX + 10), 'the newest is kept');
  const last = BlindTls.MAX + 10;
  for (let port = 1000; port < 1200; port++)
    b.see(ev({ src: 'proc', type: 'connect', pid: last, family: 'inet', addr: '1.2.3.4', port, ret: 0 }));
  t.match(b.lines().at(-1), /and 61 more$/, '64 peers kept');
});
