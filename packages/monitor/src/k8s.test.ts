import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { daemonSetText } from './k8s.js';
import { CAPABILITIES, DEFAULT_DIR } from './service.js';

t.test('the DaemonSet: valid YAML, the unit capabilities and no others, the host seen', async (t) => {
  const text = daemonSetText({
    image: 'registry.example/agentsight:0.1.0',
    namespace: 'observability',
    args: ['--otel', 'http://collector:4318', '--max-size', '5G'],
  });
  const docs = parseAllDocuments(text);
  t.same(
    docs.flatMap((d) => d.errors.map((e) => e.message)),
    [],
    'parses',
  );
  const [nsDoc, dsDoc] = docs.map((d) => d.toJS());
  t.match(nsDoc, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'observability' } });
  t.match(dsDoc, { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { namespace: 'observability' } });
  const spec = dsDoc.spec.template.spec;
  t.equal(spec.hostPID, true, 'the host process table: every pod is seen');
  t.same(dsDoc.spec.selector.matchLabels, dsDoc.spec.template.metadata.labels, 'the selector matches its pods');
  const [c] = spec.containers;
  t.equal(c.image, 'registry.example/agentsight:0.1.0');
  t.same(c.args, ['monitor', '--dir', DEFAULT_DIR, '--otel', 'http://collector:4318', '--max-size', '5G']);
  t.same(c.securityContext.capabilities.drop, ['ALL']);
  t.same(
    c.securityContext.capabilities.add,
    CAPABILITIES.map(([cap]) => cap.replace(/^CAP_/, '')),
    "the systemd unit's capabilities, from the same table",
  );
  t.equal(c.securityContext.privileged, false);
  t.equal(c.securityContext.readOnlyRootFilesystem, true);
  const mounts = new Map(c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]));
  for (const v of spec.volumes) t.ok(mounts.has(v.name), `volume ${v.name} is mounted`);
  t.equal(mounts.get('store'), DEFAULT_DIR, 'the store on the node');
  t.ok(
    spec.volumes
      .filter((v: { hostPath?: unknown }) => v.hostPath)
      .every((v: any) => v.hostPath.path === mounts.get(v.name)),
    'host directories at their own paths',
  );
  // A value YAML would read as something else is quoted.
  const odd = parseAllDocuments(daemonSetText({ image: 'img:1', memoryLimit: '512Mi', cpuLimit: '0.5' }))[1]!.toJS();
  t.equal(odd.spec.template.spec.containers[0].resources.limits.cpu, '0.5');
});
