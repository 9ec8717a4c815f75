/**
 * Issue 12 item 1: charts/nexus through the real `helm` (lint, template; offline, so `lookup` finds
 * nothing and generated secrets are fresh) with the default values and with every feature on.
 * Every rendered object validates against the Kubernetes schemas; no secret is in a ConfigMap or a
 * plain env value; every pod is restricted (B.101); no ClusterRole reads Secrets (B.61); a misspelt
 * value is refused by the schema (QUALITY fault 21).
 */
import { readFileSync } from 'node:fs';
import {
  CHART_PATH,
  KEDA_API,
  MONITORING_API,
  NAMESPACE,
  find,
  helmWithValues,
  podOf,
  renderChart,
  schemaProblems,
  type KubeManifest,
} from '../testing/chart.js';
import { restrictedViolations } from '../testing/pod-security.js';

/** Every feature of the chart on, each common-block field of B.108 set somewhere. */
export const ALL_FEATURES = {
  global: {
    commonLabels: { team: 'agents' },
    imagePullSecrets: [{ name: 'registry-login' }],
    priorityClassName: 'nexus-high',
    imageRegistry: 'mirror.example.com',
  },
  image: { digest: `sha256:${'a'.repeat(64)}` },
  anthropic: { existingSecret: { name: 'anthropic-key', key: 'api-key' } },
  broker: {
    ingress: {
      enabled: true,
      className: 'nginx',
      hosts: [{ host: 'nexus.example.com', paths: [{ path: '/', pathType: 'Prefix' }] }],
      tls: [{ hosts: ['nexus.example.com'], secretName: 'nexus-tls' }],
    },
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'nexus', effect: 'NoSchedule' }],
    affinity: {
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: 'kubernetes.io/hostname',
              labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'broker' } },
            },
          },
        ],
      },
    },
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: { 'app.kubernetes.io/component': 'broker' } },
      },
    ],
    podAnnotations: { 'example.com/owner': 'agents' },
    podLabels: { tier: 'bus' },
    podSecurityContext: { fsGroupChangePolicy: 'OnRootMismatch' },
    containerSecurityContext: { runAsUser: 1000 },
    extraEnv: [{ name: 'NEXUS_RATE_HTTP', value: '200' }],
    extraVolumes: [{ name: 'extra', configMap: { name: 'extra-config' } }],
    extraVolumeMounts: [{ name: 'extra', mountPath: '/etc/extra', readOnly: true }],
  },
  operator: {
    replicas: 2,
    watchNamespaces: [NAMESPACE, 'team-a', 'team-b'],
    frameNamespaces: [NAMESPACE, 'team-a'],
    priorityClassName: 'nexus-operator',
    pdb: { enabled: true, maxUnavailable: 1 },
  },
  workers: { slots: 2, autoscaling: { minReplicas: 2, maxReplicas: 20 } },
  postgres: { enabled: true, storage: { size: '20Gi', storageClassName: 'fast' } },
  hooks: { podLabels: { hook: 'yes' } },
  tests: { podAnnotations: { 'example.com/test': 'yes' } },
  frame: { spec: { home: { size: '2Gi' } } },
  aspectDefaults: {
    pod: {
      tolerations: [{ key: 'agents', operator: 'Exists', effect: 'NoSchedule' }],
      priorityClassName: 'agents',
    },
  },
  metrics: {
    serviceMonitor: { additionalLabels: { release: 'kube-prometheus-stack' } },
    podMonitor: { additionalLabels: { release: 'kube-prometheus-stack' } },
    prometheusRule: { additionalLabels: { release: 'kube-prometheus-stack' } },
    dashboards: { labels: { grafana_folder: 'nexus' } },
  },
  networkPolicy: {
    brokerIngressFrom: [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
    ],
  },
  extraObjects: [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'extra-config', namespace: NAMESPACE },
      data: { a: 'b' },
    },
    'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}-extra\n  namespace: {{ .Release.Namespace }}\n',
  ],
};
const ALL_APIS = [KEDA_API, MONITORING_API];

type Json = Record<string, unknown>;
const containersOf = (pod: Json) => [
  ...((pod.initContainers as Json[]) ?? []),
  ...((pod.containers as Json[]) ?? []),
];
const envOf = (container: Json) =>
  (container.env as { name: string; value?: string; valueFrom?: Json }[]) ?? [];
const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');

// Rendered once for the whole file: both describes read the same two renders.
let defaults: KubeManifest[];
let all: KubeManifest[];
beforeAll(async () => {
  [defaults, all] = await Promise.all([
    renderChart(),
    renderChart({ values: ALL_FEATURES, apiVersions: ALL_APIS }),
  ]);
});

describe('charts/nexus rendered by the real helm', () => {
  it('passes helm lint with the default values and with every feature on', async () => {
    // helm lint takes no --api-versions: KEDA is forced instead, the monitors are left out.
    const forced = {
      ...ALL_FEATURES,
      workers: { ...ALL_FEATURES.workers, autoscaling: { keda: { force: true } } },
    };
    for (const options of [{}, { values: forced }]) {
      const lint = await helmWithValues(['lint', CHART_PATH, '--strict'], options);
      expect({ code: lint.code, out: lint.stdout + lint.stderr }).toMatchObject({ code: 0 });
    }
  });

  it('renders objects that each validate against their Kubernetes schema', async () => {
    for (const objects of [defaults, all]) {
      const problems = (await Promise.all(objects.map(schemaProblems))).filter((p) => p !== null);
      expect(problems).toEqual([]);
    }
    const kinds = new Set(all.map((o) => `${o.apiVersion}/${o.kind}`));
    for (const kind of [
      'apiextensions.k8s.io/v1/CustomResourceDefinition',
      'keda.sh/v1alpha1/ScaledObject',
      'keda.sh/v1alpha1/TriggerAuthentication',
      'monitoring.coreos.com/v1/ServiceMonitor',
      'monitoring.coreos.com/v1/PodMonitor',
      'monitoring.coreos.com/v1/PrometheusRule',
      'networking.k8s.io/v1/NetworkPolicy',
      'networking.k8s.io/v1/Ingress',
      'nexus.dev/v1alpha1/Aspect',
      'apps/v1/StatefulSet',
      'batch/v1/Job',
      'v1/Pod',
    ])
      expect(kinds).toContain(kind);
  });

  it('has a validator that refuses a bad object, so a pass means something', async () => {
    const bad = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' } };
    expect(await schemaProblems({ ...bad, spec: { replicas: 'two', selector: {}, template: {} } })).toMatch(
      /replicas/,
    );
    expect(
      await schemaProblems({
        apiVersion: KEDA_API,
        kind: 'ScaledObject',
        metadata: { name: 'x' },
        spec: { triggers: [] },
      }),
    ).toMatch(/scaleTargetRef/);
    expect(
      await schemaProblems({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' } }),
    ).toMatch(/no schema/);
  });

  it('puts no secret value in a ConfigMap or a plain env value: secrets reach pods by secretKeyRef', () => {
    for (const objects of [defaults, all]) {
      const secretValues = find(objects, 'Secret').flatMap((s) =>
        Object.values((s.data as Json) ?? {}).map((v) => decode(String(v))),
      );
      expect(secretValues.length).toBeGreaterThanOrEqual(4);
      for (const cm of find(objects, 'ConfigMap')) {
        const text = JSON.stringify(cm.data ?? {});
        for (const value of secretValues) expect(text).not.toContain(value);
      }
      for (const object of objects) {
        const pod = podOf(object);
        if (!pod) continue;
        for (const container of containersOf(pod.spec)) {
          for (const env of envOf(container)) {
            if (env.value === undefined) continue;
            for (const value of secretValues) expect(env.value).not.toContain(value);
            expect(`${object.kind}/${object.metadata.name} ${env.name}`).not.toMatch(
              /(TOKEN|SECRET_KEY|PASSWORD|API_KEY|DATABASE_URL)$/,
            );
          }
        }
      }
    }
  });

  it('generates the bootstrap token and the secret key in the shapes the broker checks (B.69)', () => {
    const secret = find(defaults, 'Secret', 'nexus')[0]!;
    const data = secret.data as Record<string, string>;
    expect(decode(data.NEXUS_BOOTSTRAP_TOKEN!)).toMatch(/^nxo_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(decode(data.NEXUS_SECRET_KEY!), 'base64')).toHaveLength(32);
    expect(decode(data.DATABASE_URL!)).toMatch(
      /^postgres:\/\/nexus:[A-Za-z0-9]{32}@nexus-postgres:5432\/nexus$/,
    );
    // Kept on uninstall: the try-out Postgres volume outlives the release, and a reinstall must find
    // the password it was made with and the key its stored credentials were sealed with.
    expect(secret.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
  });

  it('percent-encodes a given postgres password in DATABASE_URL, so the broker reads it back as given', async () => {
    const { parse } = await import('pg-connection-string');
    const password = 'p@ss:w/rd #?%+ &=';
    const objects = await renderChart({ values: { postgres: { password } } });
    const data = find(objects, 'Secret', 'nexus')[0]!.data as Record<string, string>;
    expect(decode(data.POSTGRES_PASSWORD!)).toBe(password);
    expect(parse(decode(data.DATABASE_URL!))).toMatchObject({
      user: 'nexus',
      password,
      host: 'nexus-postgres',
      port: '5432',
      database: 'nexus',
    });
  });

  it('makes every pod, hooks and tests included, meet Pod Security "restricted" (B.101)', () => {
    for (const objects of [defaults, all]) {
      const pods = objects.map((o) => ({ o, pod: podOf(o) })).filter((p) => p.pod !== null);
      expect(pods.length).toBeGreaterThanOrEqual(7);
      for (const { o, pod } of pods) {
        expect({
          at: `${o.kind}/${o.metadata.name}`,
          violations: restrictedViolations(pod!.spec, pod!.annotations),
        }).toEqual({
          at: `${o.kind}/${o.metadata.name}`,
          violations: [],
        });
        for (const container of containersOf(pod!.spec))
          expect((container.securityContext as Json).readOnlyRootFilesystem).toBe(true);
      }
    }
  });

  it('grants no cluster-wide Secret read, and Roles only in the watched namespaces with a list (B.61, B.107)', () => {
    const reads = (rules: Json[]) =>
      rules.filter(
        (r) =>
          ((r.resources as string[]) ?? []).some((x) => x === 'secrets' || x === '*') &&
          ((r.verbs as string[]) ?? []).some((v) => ['get', 'list', 'watch', '*'].includes(v)),
      );
    for (const objects of [defaults, all])
      for (const role of find(objects, 'ClusterRole'))
        expect(reads((role.rules as Json[]) ?? [])).toEqual([]);

    // All namespaces: one ClusterRole, Secrets written blind.
    const [cluster] = find(defaults, 'ClusterRole');
    const secretRule = (cluster!.rules as Json[]).find((r) => (r.resources as string[]).includes('secrets'));
    expect(secretRule?.verbs).toEqual(['create', 'patch', 'delete']);
    expect(find(defaults, 'ClusterRoleBinding')).toHaveLength(1);

    // A list: a Role and RoleBinding in each, no ClusterRole; the Lease Role in the release namespace.
    expect(find(all, 'ClusterRole')).toEqual([]);
    const operatorRoles = find(all, 'Role', 'nexus-operator');
    expect(operatorRoles.map((r) => r.metadata.namespace)).toEqual([NAMESPACE, 'team-a', 'team-b']);
    expect(find(all, 'RoleBinding', 'nexus-operator').map((r) => r.metadata.namespace)).toEqual([
      NAMESPACE,
      'team-a',
      'team-b',
    ]);
    const rules = operatorRoles[0]!.rules as Json[];
    const verbsOn = (resource: string) =>
      rules.find((r) => (r.resources as string[]).includes(resource))?.verbs;
    expect(verbsOn('secrets')).toEqual(['get', 'list', 'watch', 'create', 'patch', 'delete']);
    expect(verbsOn('configmaps')).toEqual(expect.arrayContaining(['get', 'list', 'watch']));
    expect(verbsOn('pods')).toEqual(['get', 'list', 'watch']);
    expect(verbsOn('aspects/finalizers')).toEqual(['update']);
    const leader = find(all, 'Role', 'nexus-operator-leader')[0]!;
    expect(leader.metadata.namespace).toBe(NAMESPACE);
    expect(JSON.stringify(leader.rules)).toContain('leases');
  });

  it("limits the hooks' Secret access to the token Secrets by name (create aside, which cannot be)", () => {
    for (const objects of [defaults, all]) {
      const hookRoles = find(objects, 'Role').filter(
        (r) => r.metadata.labels?.['app.kubernetes.io/component'] === 'hooks',
      );
      expect(hookRoles.map((r) => r.metadata.name).sort()).toEqual(['nexus-pre-delete', 'nexus-tokens']);
      for (const role of hookRoles)
        for (const rule of role.rules as Json[]) {
          const onSecrets = (rule.resources as string[]).some((x) => x === 'secrets' || x === '*');
          if (!onSecrets || (rule.verbs as string[]).every((v) => v === 'create')) continue;
          expect({ role: role.metadata.name, resourceNames: rule.resourceNames }).toEqual({
            role: role.metadata.name,
            resourceNames: ['nexus-operator-token', 'nexus-worker-token'],
          });
        }
    }
  });

  it('refuses watchNamespaces that leave out the frame: the operator would never reconcile it', async () => {
    const refused = async (operator: Json, frame: Json = {}) => {
      const run = await helmWithValues(['template', 'nexus', CHART_PATH], {
        values: { operator, frame },
      });
      expect(run.code).not.toBe(0);
      return run.stderr;
    };
    expect(await refused({ watchNamespaces: ['team-a'] })).toContain(
      `frame.enabled puts the frame Aspect in the release namespace "${NAMESPACE}", which operator.watchNamespaces (team-a) leaves out`,
    );
    expect(await refused({ watchNamespaces: [NAMESPACE], frameNamespaces: ['team-b'] })).toContain(
      `operator.frameNamespaces names "team-b", which operator.watchNamespaces (${NAMESPACE}) leaves out`,
    );
    // Without the default frame, the release namespace need not be watched.
    const noFrame = await renderChart({
      values: { operator: { watchNamespaces: ['team-a'] }, frame: { enabled: false } },
    });
    expect(find(noFrame, 'Role', 'nexus-operator').map((r) => r.metadata.namespace)).toEqual(['team-a']);
  });

  it('refuses a misspelt value with the schema message (fault 21)', async () => {
    for (const values of [
      { broker: { replica: 3 } },
      { operator: { watchNamespace: ['a'] } },
      { frame: { enable: false } },
    ]) {
      const run = await helmWithValues(['template', 'nexus', CHART_PATH], { values });
      expect(run.code).not.toBe(0);
      const key = Object.keys(Object.values(values)[0] as object)[0]!;
      expect(run.stderr).toContain(`additional properties '${key}' not allowed`);
    }
  });
});

describe('what the chart runs', () => {
  const deployment = (objects: KubeManifest[], name: string) => {
    const d = find(objects, 'Deployment', name)[0];
    if (!d) throw new Error(`no Deployment ${name}`);
    return d as KubeManifest & { spec: { replicas?: number; template: { spec: Json } } };
  };
  const envMap = (c: Json) => Object.fromEntries(envOf(c).map((e) => [e.name, e.value ?? e.valueFrom]));

  it('runs the broker with migrations first, probes, an HPA from 2 replicas and a PDB (B.70, B.72)', () => {
    const broker = deployment(defaults, 'nexus-broker');
    const pod = broker.spec.template.spec;
    expect((pod.initContainers as Json[]).map((c) => c.args)).toEqual([['migrate']]);
    const [container] = pod.containers as Json[];
    expect(container!.args).toEqual(['broker']);
    expect(container!.livenessProbe).toMatchObject({ httpGet: { path: '/healthz' } });
    expect(container!.readinessProbe).toMatchObject({ httpGet: { path: '/readyz' } });
    expect(find(defaults, 'HorizontalPodAutoscaler', 'nexus-broker')[0]?.spec).toMatchObject({
      minReplicas: 2,
    });
    expect(find(defaults, 'PodDisruptionBudget', 'nexus-broker')).toHaveLength(1);
    expect(find(defaults, 'Service', 'nexus-broker')).toHaveLength(1);
    expect(find(defaults, 'Ingress')).toEqual([]);
    expect(find(all, 'Ingress')).toHaveLength(1);
  });

  it('publishes only /v1 by default through the Ingress: not the unauthenticated /metrics', async () => {
    const objects = await renderChart({ values: { broker: { ingress: { enabled: true } } } });
    const [ingress] = find(objects, 'Ingress') as unknown as {
      spec: { rules: { http: { paths: Json[] } }[] };
    }[];
    expect(ingress!.spec.rules.flatMap((r) => r.http.paths.map((p) => [p.path, p.pathType]))).toEqual([
      ['/v1', 'Prefix'],
    ]);
  });

  it('gives the operator the settings of B.72, ASPECT_POD_DEFAULTS (B.102) and FRAME_NAMESPACES', () => {
    const [container] = deployment(all, 'nexus-operator').spec.template.spec.containers as Json[];
    const env = envMap(container!);
    expect(env).toMatchObject({
      RUNTIME_IMAGE: 'mirror.example.com/nexus-agents/nexus-runtime:0.1.0',
      NEXUS_URL: `http://nexus-broker.${NAMESPACE}.svc:7888`,
      WATCH_NAMESPACES: `${NAMESPACE},team-a,team-b`,
      FRAME_NAMESPACES: `${NAMESPACE},team-a`,
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      LEASE_DURATION_S: '15',
      OPERATOR_QPS: '20',
      OPERATOR_BURST: '30',
      RESYNC_S: '300',
      NEXUS_TOKEN_FILE: '/var/run/nexus/token/token',
    });
    // The token Secrets are written by the post-install hook, which `helm install --wait`, Flux and
    // Argo CD run after the Deployments are available: optional, so the pods start without them
    // (nexus operator and nexus worker wait for the file).
    for (const [name, secretName] of [
      ['nexus-operator', 'nexus-operator-token'],
      ['nexus-worker', 'nexus-worker-token'],
    ] as const)
      expect(
        (deployment(all, name).spec.template.spec.volumes as Json[]).find((v) => v.name === 'token'),
      ).toEqual({
        name: 'token',
        secret: { secretName, optional: true },
      });
    // global.imagePullSecrets reach Aspect pods when aspectDefaults.pod names none of its own.
    expect(JSON.parse(String(env.ASPECT_POD_DEFAULTS))).toEqual({
      ...ALL_FEATURES.aspectDefaults.pod,
      imagePullSecrets: ALL_FEATURES.global.imagePullSecrets,
    });
    expect(
      envMap((deployment(defaults, 'nexus-operator').spec.template.spec.containers as Json[])[0]!),
    ).toMatchObject({
      WATCH_NAMESPACES: '',
      FRAME_NAMESPACES: NAMESPACE,
      ASPECT_POD_DEFAULTS: '{}',
    });
    // One replica: no PDB (B.108); two: one.
    expect(find(defaults, 'PodDisruptionBudget', 'nexus-operator')).toEqual([]);
    expect(find(all, 'PodDisruptionBudget', 'nexus-operator')).toHaveLength(1);
  });

  it('lets aspectDefaults.pod.imagePullSecrets win over global.imagePullSecrets, and takes no runtimeImage.pullPolicy (the operator has none)', async () => {
    const own = await renderChart({
      values: {
        global: { imagePullSecrets: [{ name: 'registry-login' }] },
        aspectDefaults: { pod: { imagePullSecrets: [{ name: 'agents-registry' }] } },
      },
    });
    const [container] = deployment(own, 'nexus-operator').spec.template.spec.containers as Json[];
    expect(JSON.parse(String(envMap(container!).ASPECT_POD_DEFAULTS))).toEqual({
      imagePullSecrets: [{ name: 'agents-registry' }],
    });
    const run = await helmWithValues(['template', 'nexus', CHART_PATH], {
      values: { runtimeImage: { pullPolicy: 'Always' } },
    });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("additional properties 'pullPolicy' not allowed");
  });

  it('renders pdb.maxUnavailable 0 as 0, not as the default 1', async () => {
    const objects = await renderChart({ values: { broker: { pdb: { maxUnavailable: 0 } } } });
    expect(find(objects, 'PodDisruptionBudget', 'nexus-broker')[0]!.spec).toMatchObject({
      maxUnavailable: 0,
    });
    expect(find(defaults, 'PodDisruptionBudget', 'nexus-broker')[0]!.spec).toMatchObject({
      maxUnavailable: 1,
    });
  });

  it('scales workers by KEDA when its API is there, else by an HPA with an adapter, else a fixed count (B.71)', async () => {
    expect(find(defaults, 'ScaledObject')).toEqual([]);
    expect(deployment(defaults, 'nexus-worker').spec.replicas).toBe(1);
    const scaled = find(all, 'ScaledObject')[0] as unknown as { spec: Json };
    expect(scaled.spec).toMatchObject({
      scaleTargetRef: { name: 'nexus-worker' },
      minReplicaCount: 2,
      maxReplicaCount: 20,
    });
    expect(deployment(all, 'nexus-worker').spec.replicas).toBeUndefined();
    const forced = await renderChart({ values: { workers: { autoscaling: { keda: { force: true } } } } });
    expect(find(forced, 'ScaledObject')).toHaveLength(1);
    const adapter = await renderChart({ values: { prometheusAdapter: { enabled: true } } });
    expect(find(adapter, 'HorizontalPodAutoscaler', 'nexus-worker')[0]?.spec).toMatchObject({
      metrics: [{ type: 'External', external: { metric: { name: 'nexus_hand_queue_depth' } } }],
    });
    const notes = await helmWithValues(['install', 'nexus', CHART_PATH, '--dry-run=client'], {});
    expect(notes.stdout).toContain('4. Hand workers: a fixed count of 1');
    // Watching every namespace, the Aspect NetworkPolicy is only in the release namespace (B.109 departure).
    expect(notes.stdout).toContain(
      `The operator watches every namespace, but the Aspect pods' NetworkPolicy is rendered only in\n   ${NAMESPACE}: Aspects in other namespaces run without one.`,
    );
    // helm install --dry-run=client takes no --api-versions: KEDA is forced.
    const kedaNotes = await helmWithValues(['install', 'nexus', CHART_PATH, '--dry-run=client'], {
      values: { workers: { autoscaling: { keda: { force: true } } } },
    });
    expect(kedaNotes.stdout).toContain('scaled by KEDA on the dispatch queue');
  });

  it('mints the tokens into Secrets after install with the bootstrap token, and stores the Anthropic key (B.69)', () => {
    const job = find(all, 'Job', 'nexus-tokens')[0]!;
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('post-install');
    const containers = podOf(job)!.spec.containers as Json[];
    expect(containers.map((c) => c.args)).toEqual([
      [
        'token',
        'mint',
        'admin',
        '--name',
        'nexus-operator',
        '--into-secret',
        `${NAMESPACE}/nexus-operator-token`,
      ],
      [
        'token',
        'mint',
        'worker',
        '--name',
        'nexus-worker',
        '--into-secret',
        `${NAMESPACE}/nexus-worker-token`,
      ],
      ['cred', 'set', 'anthropic', '--kind', 'api_key', '--value-file', '/var/run/nexus/anthropic/api-key'],
    ]);
    expect(envMap(containers[0]!).NEXUS_TOKEN).toEqual({
      secretKeyRef: { name: 'nexus', key: 'NEXUS_BOOTSTRAP_TOKEN' },
    });
    const role = find(all, 'Role', 'nexus-tokens')[0]!;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['nexus-operator-token', 'nexus-worker-token'],
        verbs: ['patch'],
      },
    ]);
  });

  it('deletes the chart Aspects before uninstall and waits for the operator (B.62), then revokes the tokens the hook minted and deletes their Secrets', () => {
    const job = find(defaults, 'Job', 'nexus-pre-delete')[0]!;
    expect(job.metadata.annotations?.['helm.sh/hook']).toBe('pre-delete');
    const pod = podOf(job)!.spec;
    // The Aspects first, as an init container: the operator needs its token until they are finalized.
    const [aspects, ...moreInit] = pod.initContainers as Json[];
    expect(moreInit).toEqual([]);
    expect(aspects!.name).toBe('delete-aspects');
    expect(aspects!.args).toEqual(
      expect.arrayContaining([
        'delete',
        'aspects.nexus.dev',
        `--namespace=${NAMESPACE}`,
        '--selector=app.kubernetes.io/instance=nexus',
        '--wait=true',
        // Below helm's default --timeout (5m), so the Job, not Helm, is the one to give up.
        '--timeout=4m',
      ]),
    );
    const containers = pod.containers as Json[];
    expect(containers.map((c) => [c.name, c.args])).toEqual([
      ['revoke-operator-token', ['token', 'revoke', '--name', 'nexus-operator']],
      ['revoke-worker-token', ['token', 'revoke', '--name', 'nexus-worker']],
      [
        'delete-token-secrets',
        [
          'delete',
          'secrets',
          'nexus-operator-token',
          'nexus-worker-token',
          `--namespace=${NAMESPACE}`,
          '--ignore-not-found',
          '--wait=false',
        ],
      ],
    ]);
    // The names are the ones the post-install Job mints with and writes into.
    const minted = (podOf(find(defaults, 'Job', 'nexus-tokens')[0]!)!.spec.containers as Json[]).map(
      (c) => c.args as string[],
    );
    expect(minted.map((args) => [args[args.indexOf('--name') + 1], args.at(-1)])).toEqual([
      ['nexus-operator', `${NAMESPACE}/nexus-operator-token`],
      ['nexus-worker', `${NAMESPACE}/nexus-worker-token`],
    ]);
    for (const revoke of containers.slice(0, 2))
      expect(envMap(revoke)).toEqual({
        NEXUS_URL: `http://nexus-broker.${NAMESPACE}.svc:7888`,
        NEXUS_TOKEN: { secretKeyRef: { name: 'nexus', key: 'NEXUS_BOOTSTRAP_TOKEN' } },
      });
    expect(find(defaults, 'Role', 'nexus-pre-delete')[0]!.rules).toEqual([
      { apiGroups: ['nexus.dev'], resources: ['aspects'], verbs: ['get', 'list', 'watch', 'delete'] },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['nexus-operator-token', 'nexus-worker-token'],
        verbs: ['delete'],
      },
    ]);
    const frame = find(defaults, 'Aspect', 'frame')[0]!;
    expect(frame.metadata.labels?.['app.kubernetes.io/instance']).toBe('nexus');
    expect(frame.spec).toMatchObject({ role: 'frame', credentials: ['anthropic'] });
  });

  it('cleans up only what the chart minted: no token Job, no token cleanup; no workers, only the operator token', async () => {
    const noTokens = await renderChart({ values: { hooks: { tokens: { enabled: false } } } });
    const plain = podOf(find(noTokens, 'Job', 'nexus-pre-delete')[0]!)!.spec;
    expect(plain.initContainers).toBeUndefined();
    expect((plain.containers as Json[]).map((c) => c.name)).toEqual(['delete-aspects']);
    expect(JSON.stringify(find(noTokens, 'Role', 'nexus-pre-delete')[0]!.rules)).not.toContain('secrets');

    const noWorkers = await renderChart({ values: { workers: { enabled: false } } });
    const pod = podOf(find(noWorkers, 'Job', 'nexus-pre-delete')[0]!)!.spec;
    expect((pod.containers as Json[]).map((c) => c.name)).toEqual([
      'revoke-operator-token',
      'delete-token-secrets',
    ]);
    expect(find(noWorkers, 'Role', 'nexus-pre-delete')[0]!.rules).toContainEqual(
      expect.objectContaining({ resourceNames: ['nexus-operator-token'], verbs: ['delete'] }),
    );
  });

  it('renders the CRD generated from aspectCrd() with the keep policy (B.103)', async () => {
    const { aspectCrd, aspectCrdYaml } = await import('../protocol/crd/index.js');
    expect(readFileSync(`${CHART_PATH}/files/crds/aspects.nexus.dev.yaml`, 'utf8')).toBe(aspectCrdYaml());
    const [crd] = find(defaults, 'CustomResourceDefinition');
    expect(crd!.spec).toEqual((aspectCrd() as { spec: unknown }).spec);
    expect(crd!.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    const unkept = await renderChart({ values: { crds: { keep: false } } });
    expect(find(unkept, 'CustomResourceDefinition')[0]!.metadata.annotations).toBeUndefined();
    const none = await renderChart({ values: { crds: { enabled: false } } });
    expect(find(none, 'CustomResourceDefinition')).toEqual([]);
  });

  it('applies the common block and the global settings to every workload (B.108)', () => {
    const workloads = all.filter((o) => podOf(o) !== null);
    for (const o of workloads) {
      expect(o.metadata.labels?.team).toBe('agents');
      const pod = podOf(o)!.spec;
      expect(pod.imagePullSecrets).toEqual([{ name: 'registry-login' }]);
      for (const c of containersOf(pod)) expect(String(c.image)).toMatch(/^(mirror\.example\.com\/)/);
    }
    const broker = deployment(all, 'nexus-broker').spec.template as { metadata: Json; spec: Json };
    expect(broker.metadata).toMatchObject({
      labels: { tier: 'bus' },
      annotations: { 'example.com/owner': 'agents' },
    });
    expect(broker.spec).toMatchObject({
      nodeSelector: ALL_FEATURES.broker.nodeSelector,
      tolerations: ALL_FEATURES.broker.tolerations,
      affinity: ALL_FEATURES.broker.affinity,
      topologySpreadConstraints: ALL_FEATURES.broker.topologySpreadConstraints,
      priorityClassName: 'nexus-high',
      securityContext: { fsGroupChangePolicy: 'OnRootMismatch', runAsNonRoot: true },
    });
    expect(String((broker.spec.containers as Json[])[0]!.image)).toBe(
      `mirror.example.com/nexus-agents/nexus-broker@sha256:${'a'.repeat(64)}`,
    );
    expect(deployment(all, 'nexus-operator').spec.template.spec.priorityClassName).toBe('nexus-operator');
    expect(find(all, 'ServiceAccount', 'nexus-extra')).toHaveLength(1);
  });

  it('labels the monitors and the Grafana dashboards, and the network policies of B.109', () => {
    expect(find(defaults, 'ServiceMonitor')).toEqual([]);
    expect(find(all, 'ServiceMonitor')[0]!.metadata.labels?.release).toBe('kube-prometheus-stack');
    const dashboards = find(all, 'ConfigMap').filter((c) => c.metadata.labels?.grafana_dashboard === '1');
    expect(dashboards.map((d) => d.metadata.name).sort()).toEqual(
      ['bus', 'hands', 'operator', 'providers', 'sessions'].map((k) => `nexus-dashboard-${k}`),
    );
    const policies = find(all, 'NetworkPolicy');
    expect(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort()).toEqual([
      `${NAMESPACE}/nexus-aspects`,
      `${NAMESPACE}/nexus-broker`,
      'team-a/nexus-aspects',
      'team-b/nexus-aspects',
    ]);
    const aspects = policies.find((p) => p.metadata.name === 'nexus-aspects')!.spec as Json;
    expect(aspects.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: 9464 }] }]);
  });
});
