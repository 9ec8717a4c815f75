import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { AspectConfig } from '../protocol/aspect-config.js';
import { restrictedViolations } from '../testing/pod-security.js';
import { configChecksum, desiredConfigMap, desiredPvc, desiredStatefulSet } from './desired.js';
import { mergePodSettings, podSettingsProblem } from './pod-spec.js';
import { aspect, parsed, settings } from './test/fixtures.js';
import { CONFIG_CHECKSUM_ANNOTATION, TOKEN_ID_ANNOTATION, type KubeObject } from './types.js';

type Json = Record<string, unknown>;

function build(spec: Json = {}, operatorSettings = settings) {
  const object = aspect(spec);
  const input = { aspect: object, parsed: parsed(object), settings: operatorSettings };
  const configMap = desiredConfigMap({ ...input, documents: { 'SOUL.md': 'calm' } });
  const statefulSet = desiredStatefulSet({ ...input, configMap, tokenId: '17' });
  return { pvc: desiredPvc(input), configMap, statefulSet };
}

const template = (sts: KubeObject) => (sts.spec as { template: { metadata: Json; spec: Json } }).template;
const container = (sts: KubeObject) => (template(sts).spec.containers as Json[])[0]!;

describe('the objects an Aspect owns (B.94)', () => {
  it('are named after the Aspect, labelled as the operator’s and controlled by the Aspect', () => {
    const { pvc, configMap, statefulSet } = build();
    expect([pvc, configMap, statefulSet].map((o) => o.metadata.name)).toEqual([
      'wren-home',
      'wren-config',
      'wren',
    ]);
    for (const object of [pvc, configMap, statefulSet]) {
      expect(object.metadata.namespace).toBe('team');
      expect(object.metadata.labels).toEqual({
        'app.kubernetes.io/managed-by': 'nexus-operator',
        'nexus.dev/aspect': 'wren',
      });
      expect(object.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'nexus.dev/v1alpha1',
          kind: 'Aspect',
          name: 'wren',
          uid: 'uid-wren',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
  });

  it('pass the official Kubernetes schemas', () => {
    const { pvc, configMap, statefulSet } = build({
      home: { size: '5Gi', storageClassName: 'fast' },
      resources: { limits: { memory: '512Mi' } },
      pod: { nodeSelector: { pool: 'agents' }, tolerations: [{ key: 'agents', operator: 'Exists' }] },
    });
    expect(() => new PersistentVolumeClaim(pvc as never).validate()).not.toThrow();
    expect(() => new ConfigMap(configMap as never).validate()).not.toThrow();
    expect(() => new StatefulSet(statefulSet as never).validate()).not.toThrow();
  });

  it('give the home its size and class', () => {
    expect(build().pvc.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
    });
    expect(build({ home: { size: '5Gi', storageClassName: 'fast' } }).pvc.spec).toMatchObject({
      resources: { requests: { storage: '5Gi' } },
      storageClassName: 'fast',
    });
  });

  it('put aspect.json, as the runtime parses it, and the documents in the ConfigMap', () => {
    const { configMap } = build({ hands: [{ name: 'lookup', description: 'looks up', timeoutS: 30 }] });
    const data = configMap.data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(['SOUL.md', 'aspect.json']);
    const config = AspectConfig.parse(JSON.parse(data['aspect.json']!));
    expect(config).toMatchObject({
      name: 'wren',
      context_mode: 'thread',
      hands: [{ name: 'lookup', timeout_s: 30 }],
    });
  });

  it('run one replica of the runtime image, none when suspended', () => {
    const sts = build().statefulSet;
    expect((sts.spec as Json).replicas).toBe(1);
    expect(container(sts).image).toBe(settings.runtimeImage);
    expect(container(sts).args).toEqual(['agent', '/nexus/home', '--config-from', '/nexus/config']);
    expect(container(sts).env).toEqual([
      { name: 'NEXUS_URL', value: settings.nexusUrl },
      { name: 'NEXUS_TOKEN_FILE', value: '/nexus/token/token' },
      { name: 'METRICS_PORT', value: '9464' },
    ]);
    expect(container(build({ image: 'mine:2' }).statefulSet).image).toBe('mine:2');
    expect((build({ suspend: true }).statefulSet.spec as Json).replicas).toBe(0);
  });

  it('record the token on the StatefulSet, and the config checksum on the pod template only', () => {
    const { statefulSet, configMap } = build();
    expect(statefulSet.metadata.annotations?.[TOKEN_ID_ANNOTATION]).toBe('17');
    expect(template(statefulSet).metadata.annotations).toEqual({
      [CONFIG_CHECKSUM_ANNOTATION]: configChecksum(configMap.data as Record<string, string>),
    });
    expect((template(statefulSet).metadata.annotations as Json)[TOKEN_ID_ANNOTATION]).toBeUndefined();
  });

  it('change the checksum when the configuration changes, and only then', () => {
    const a = configChecksum({ 'aspect.json': '{}', 'SOUL.md': 'x' });
    expect(configChecksum({ 'SOUL.md': 'x', 'aspect.json': '{}' })).toBe(a);
    expect(configChecksum({ 'aspect.json': '{}', 'SOUL.md': 'y' })).not.toBe(a);
  });

  it('mount the home, the configuration, the token folder and /tmp, with probes on the metrics port', () => {
    const sts = build().statefulSet;
    expect(template(sts).spec.volumes).toEqual([
      { name: 'nexus-home', persistentVolumeClaim: { claimName: 'wren-home' } },
      { name: 'nexus-config', configMap: { name: 'wren-config' } },
      { name: 'nexus-token', secret: { secretName: 'wren-token', defaultMode: 0o440 } },
      { name: 'tmp', emptyDir: {} },
    ]);
    expect(container(sts).livenessProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'metrics' } });
    expect(container(sts).readinessProbe).toMatchObject({ httpGet: { path: '/readyz', port: 'metrics' } });
    expect(container(sts).ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
  });

  it('make a pod that meets Pod Security "restricted" (B.101)', () => {
    const spec = template(build().statefulSet).spec;
    expect(restrictedViolations(spec)).toEqual([]);
    expect(spec).toMatchObject({
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        fsGroup: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      },
    });
    expect(container(build().statefulSet).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
    });
  });
});

describe('pod settings (B.100) over the operator’s defaults (B.102)', () => {
  const defaults = {
    nodeSelector: { pool: 'agents', zone: 'a' },
    tolerations: [{ key: 'agents', operator: 'Exists' }],
    labels: { team: 'core' },
    podSecurityContext: { fsGroupChangePolicy: 'OnRootMismatch' },
  };

  it('merge maps key by key and replace lists, the Aspect winning', () => {
    const merged = mergePodSettings(defaults, {
      nodeSelector: { zone: 'b' },
      tolerations: [{ key: 'gpu', operator: 'Exists' }],
    });
    expect(merged.nodeSelector).toEqual({ pool: 'agents', zone: 'b' });
    expect(merged.tolerations).toEqual([{ key: 'gpu', operator: 'Exists' }]);
    expect(merged.labels).toEqual({ team: 'core' });
    expect(mergePodSettings(defaults, undefined)).toEqual(defaults);
  });

  it('reach the pod template, B.94’s labels and checksum winning on conflict', () => {
    const sts = build(
      {
        pod: {
          labels: { 'nexus.dev/aspect': 'other', app: 'wren' },
          annotations: { [CONFIG_CHECKSUM_ANNOTATION]: 'forged', note: 'hi' },
          imagePullSecrets: [{ name: 'registry' }],
          serviceAccountName: 'wren-sa',
          env: [
            { name: 'LOG_LEVEL', value: 'debug' },
            { name: 'METRICS_PORT', value: '1' },
          ],
          volumes: [{ name: 'cache', emptyDir: {} }],
          volumeMounts: [{ name: 'cache', mountPath: '/cache' }],
        },
      },
      { ...settings, aspectPodDefaults: defaults },
    ).statefulSet;
    const { metadata, spec } = template(sts);
    expect(metadata.labels).toEqual({
      team: 'core',
      app: 'wren',
      'app.kubernetes.io/managed-by': 'nexus-operator',
      'nexus.dev/aspect': 'wren',
    });
    expect((metadata.annotations as Json)[CONFIG_CHECKSUM_ANNOTATION]).not.toBe('forged');
    expect((metadata.annotations as Json).note).toBe('hi');
    expect(spec).toMatchObject({
      nodeSelector: { pool: 'agents', zone: 'a' },
      imagePullSecrets: [{ name: 'registry' }],
      serviceAccountName: 'wren-sa',
      securityContext: { fsGroupChangePolicy: 'OnRootMismatch', runAsUser: 1000 },
    });
    const env = container(sts).env as Json[];
    expect(env.filter((e) => e.name === 'METRICS_PORT')).toEqual([{ name: 'METRICS_PORT', value: '9464' }]);
    expect(env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
    expect((spec.volumes as Json[]).at(-1)).toEqual({ name: 'cache', emptyDir: {} });
    expect(restrictedViolations(spec)).toEqual([]);
  });

  it('let podSecurityContext and securityContext override the restricted defaults', () => {
    const sts = build({
      pod: { podSecurityContext: { runAsUser: 2000 }, securityContext: { readOnlyRootFilesystem: false } },
    }).statefulSet;
    expect(template(sts).spec.securityContext).toMatchObject({ runAsUser: 2000, runAsNonRoot: true });
    expect(container(sts).securityContext).toMatchObject({
      readOnlyRootFilesystem: false,
      allowPrivilegeEscalation: false,
    });
  });

  it('refuse a volume named like the operator’s and a mount at or under its paths', () => {
    expect(podSettingsProblem({ volumes: [{ name: 'nexus-home', emptyDir: {} }] })).toBe(
      'spec.pod.volumes[0].name: nexus-home is the name of a volume the operator mounts',
    );
    expect(podSettingsProblem({ volumeMounts: [{ name: 'x', mountPath: '/nexus/home/sub' }] })).toMatch(
      /^spec\.pod\.volumeMounts\[0\]\.mountPath: must not be at or under \/nexus\/home/,
    );
    expect(podSettingsProblem({ volumeMounts: [{ name: 'x', mountPath: '/nexus' }] })).not.toBeNull();
    expect(podSettingsProblem({ volumeMounts: [{ name: 'x', mountPath: '/data' }] })).toBeNull();
  });
});
