import { stringify } from 'yaml';
import { runKubectl } from '../kube-tools.js';
import { widgetCrd } from './fixtures.js';
import { kubeconfigFor, startKubeDouble, type KubeDouble } from './index.js';

let double: KubeDouble;
let kubeconfig: string;
beforeEach(async () => {
  double = await startKubeDouble();
  kubeconfig = await kubeconfigFor(double);
});
afterEach(() => double.stop());

const kubectl = async (args: string[], input?: string) => {
  const run = await runKubectl(args, { kubeconfig, input });
  if (run.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
};

const widget = (name: string) =>
  stringify({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name }, spec: { size: 3 } });

const ref = (name: string) => ({ kind: 'Widget', namespace: 'default', name });

describe('the real kubectl against the double (with validation on: it asks the double)', () => {
  it('applies a CRD, then a custom resource of it, and prints its columns by short name', async () => {
    expect(await kubectl(['apply', '-f', '-'], stringify(widgetCrd()))).toContain(
      'customresourcedefinition.apiextensions.k8s.io/widgets.example.com created',
    );
    await kubectl(['wait', '--for=condition=Established', 'crd/widgets.example.com', '--timeout=10s']);
    expect(await kubectl(['apply', '-f', '-'], widget('w1'))).toContain('widget.example.com/w1 created');
    expect(await kubectl(['apply', '-f', '-'], widget('w1'))).toContain('widget.example.com/w1 unchanged');
    double.update(ref('w1'), (o) => {
      o.status = {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'False', reason: 'PodNotReady' }],
      };
    });
    const table = await kubectl(['get', 'wdg']);
    const [header, row] = table.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'PHASE', 'READY', 'REASON', 'SIZE', 'AGE']);
    expect(row).toMatch(/^w1\s+Running\s+False\s+PodNotReady\s+3\s+\d+s$/);
    expect(await kubectl(['get', 'toys', '-o', 'name'])).toBe('widget.example.com/w1\n');
    expect(JSON.parse(await kubectl(['get', 'widget', 'w1', '-o', 'json']))).toMatchObject({
      spec: { size: 3 },
    });
    // kubectl asked for aggregated discovery, got the plain form and fell back to it.
    const discovery = double.requests({ verb: 'discovery' });
    expect(discovery.some((r) => r.path === '/apis' && r.accept?.includes('as=APIGroupDiscoveryList'))).toBe(
      true,
    );
    expect(discovery.some((r) => r.path === '/apis/example.com/v1')).toBe(true);
  });

  it('refuses an unknown field under --validate=strict and a wrong type, as the server does', async () => {
    await kubectl(['apply', '-f', '-'], stringify(widgetCrd()));
    const bad = stringify({
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'b' },
      spec: { size: 1, colour: 'red' },
    });
    const run = await runKubectl(['apply', '-f', '-'], { kubeconfig, input: bad });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('unknown field "spec.colour"');
    const wrong = stringify({
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'b' },
      spec: { size: 'big' },
    });
    const typed = await runKubectl(['apply', '-f', '-'], { kubeconfig, input: wrong });
    expect(typed.stderr).toContain('spec.size in body must be of type integer');
    // Without strict validation (client-node's default) unknown fields are pruned.
    const lax = await runKubectl(['apply', '--validate=false', '-f', '-'], { kubeconfig, input: bad });
    expect(lax.code).toBe(0);
    expect(double.get(ref('b')).spec).toEqual({ size: 1 });
  });

  it('kubectl delete waits for the finalizer, which the test then clears', async () => {
    await kubectl(['apply', '-f', '-'], stringify(widgetCrd()));
    await kubectl(['apply', '-f', '-'], widget('w2'));
    double.update(ref('w2'), (o) => (o.metadata.finalizers = ['example.com/cleanup']));
    const deleting = kubectl(['delete', 'widget', 'w2', '--timeout=20s']);
    await double.waitFor(() => double.find(ref('w2'))?.metadata.deletionTimestamp, {
      what: 'deletionTimestamp',
    });
    // kubectl is now watching for the deletion; the "controller" finishes its cleanup.
    await double.waitFor(() => double.requests({ verb: 'watch', kind: 'Widget' }).length > 0, {
      what: 'kubectl to watch',
    });
    double.update(ref('w2'), (o) => (o.metadata.finalizers = []));
    expect(await deleting).toContain('widget.example.com "w2" deleted');
    expect(double.find(ref('w2'))).toBeUndefined();
  });

  it('built-in kinds: create, label, get with columns, delete', async () => {
    // `kubectl create configmap` would send protobuf, which the double refuses (415): apply sends JSON.
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c1', namespace: 'team' },
      data: { a: 'b' },
    };
    await kubectl(['apply', '-f', '-'], stringify(cm));
    await kubectl(['label', 'configmap', 'c1', 'app=x', '-n', 'team']);
    expect(double.get({ kind: 'ConfigMap', namespace: 'team', name: 'c1' }).metadata.labels).toEqual({
      app: 'x',
    });
    expect(await kubectl(['get', 'cm', '-n', 'team', '-l', 'app=x', '-o', 'name'])).toBe('configmap/c1\n');
    await kubectl(['delete', 'cm', 'c1', '-n', 'team']);
    expect(double.find({ kind: 'ConfigMap', namespace: 'team', name: 'c1' })).toBeUndefined();
  });
});
