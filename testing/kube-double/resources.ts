/**
 * What the double serves: the built-in kinds the operator and the chart touch, plus every kind an
 * Established CRD adds. Discovery, routing, tables and the store all read this one registry.
 */
import { apiVersionOf, isObject, type Obj, type PrinterColumn, type ResourceType } from './types.js';

type Builtin = [
  group: string,
  version: string,
  plural: string,
  kind: string,
  options?: {
    cluster?: boolean;
    short?: string[];
    status?: boolean;
    all?: boolean;
    columns?: PrinterColumn[];
  },
];

const col = (name: string, jsonPath: string, type = 'string'): PrinterColumn => ({ name, type, jsonPath });

const builtins: Builtin[] = [
  ['', 'v1', 'namespaces', 'Namespace', { cluster: true, short: ['ns'], status: true }],
  ['', 'v1', 'configmaps', 'ConfigMap', { short: ['cm'] }],
  ['', 'v1', 'secrets', 'Secret', { columns: [col('Type', '.type')] }],
  [
    '',
    'v1',
    'persistentvolumeclaims',
    'PersistentVolumeClaim',
    { short: ['pvc'], status: true, columns: [col('Status', '.status.phase')] },
  ],
  ['', 'v1', 'persistentvolumes', 'PersistentVolume', { cluster: true, short: ['pv'], status: true }],
  [
    '',
    'v1',
    'pods',
    'Pod',
    { short: ['po'], status: true, all: true, columns: [col('Status', '.status.phase')] },
  ],
  [
    '',
    'v1',
    'events',
    'Event',
    { short: ['ev'], columns: [col('Reason', '.reason'), col('Message', '.message')] },
  ],
  ['', 'v1', 'services', 'Service', { short: ['svc'], status: true, all: true }],
  ['', 'v1', 'serviceaccounts', 'ServiceAccount', { short: ['sa'] }],
  ['', 'v1', 'endpoints', 'Endpoints', { short: ['ep'] }],
  ['', 'v1', 'nodes', 'Node', { cluster: true, short: ['no'], status: true }],
  [
    'apps',
    'v1',
    'statefulsets',
    'StatefulSet',
    { short: ['sts'], status: true, all: true, columns: [col('Ready', '.status.readyReplicas', 'integer')] },
  ],
  ['apps', 'v1', 'deployments', 'Deployment', { short: ['deploy'], status: true, all: true }],
  ['apps', 'v1', 'replicasets', 'ReplicaSet', { short: ['rs'], status: true, all: true }],
  ['apps', 'v1', 'daemonsets', 'DaemonSet', { short: ['ds'], status: true, all: true }],
  ['apps', 'v1', 'controllerrevisions', 'ControllerRevision'],
  ['coordination.k8s.io', 'v1', 'leases', 'Lease', { columns: [col('Holder', '.spec.holderIdentity')] }],
  ['events.k8s.io', 'v1', 'events', 'Event', { short: ['ev'] }],
  ['batch', 'v1', 'jobs', 'Job', { status: true, all: true }],
  ['batch', 'v1', 'cronjobs', 'CronJob', { short: ['cj'], status: true, all: true }],
  ['rbac.authorization.k8s.io', 'v1', 'roles', 'Role'],
  ['rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding'],
  ['rbac.authorization.k8s.io', 'v1', 'clusterroles', 'ClusterRole', { cluster: true }],
  ['rbac.authorization.k8s.io', 'v1', 'clusterrolebindings', 'ClusterRoleBinding', { cluster: true }],
  ['policy', 'v1', 'poddisruptionbudgets', 'PodDisruptionBudget', { short: ['pdb'], status: true }],
  ['networking.k8s.io', 'v1', 'networkpolicies', 'NetworkPolicy', { short: ['netpol'] }],
  ['networking.k8s.io', 'v1', 'ingresses', 'Ingress', { short: ['ing'], status: true }],
  [
    'autoscaling',
    'v2',
    'horizontalpodautoscalers',
    'HorizontalPodAutoscaler',
    { short: ['hpa'], status: true },
  ],
  [
    'apiextensions.k8s.io',
    'v1',
    'customresourcedefinitions',
    'CustomResourceDefinition',
    { cluster: true, short: ['crd', 'crds'], status: true },
  ],
];

function builtinType([group, version, plural, kind, o = {}]: Builtin): ResourceType {
  return {
    group,
    version,
    plural,
    singular: kind.toLowerCase(),
    kind,
    namespaced: !o.cluster,
    shortNames: o.short ?? [],
    categories: o.all ? ['all'] : [],
    statusSubresource: o.status ?? false,
    custom: false,
    printerColumns: o.columns ?? [],
  };
}

/** The kinds one CRD serves, one per served version; empty when the CRD is malformed. */
export function typesOfCrd(crd: Obj): ResourceType[] {
  const spec = crd.spec;
  if (!isObject(spec) || !isObject(spec.names) || typeof spec.group !== 'string') return [];
  const names = spec.names as Record<string, unknown>;
  const kind = String(names.kind ?? '');
  const plural = String(names.plural ?? '');
  if (!kind || !plural || !Array.isArray(spec.versions)) return [];
  const strings = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return spec.versions.filter(isObject).flatMap((v) =>
    v.served === false
      ? []
      : [
          {
            group: spec.group as string,
            version: String(v.name),
            plural,
            singular: String(names.singular ?? kind.toLowerCase()),
            kind,
            namespaced: spec.scope !== 'Cluster',
            shortNames: strings(names.shortNames),
            categories: strings(names.categories),
            statusSubresource: isObject(v.subresources) && v.subresources.status !== undefined,
            custom: true,
            printerColumns: Array.isArray(v.additionalPrinterColumns)
              ? (v.additionalPrinterColumns as PrinterColumn[])
              : [],
            schema: isObject(v.schema) ? v.schema.openAPIV3Schema : undefined,
          },
        ],
  );
}

export class Resources {
  private readonly types: ResourceType[] = builtins.map(builtinType);

  all(): readonly ResourceType[] {
    return this.types;
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.version === version && t.plural === plural);
  }

  /** By `apiVersion` and kind; without an apiVersion, the first kind of that name (core first). */
  byKind(kind: string, apiVersion?: string): ResourceType | undefined {
    return this.types.find(
      (t) => t.kind === kind && (apiVersion === undefined || apiVersionOf(t) === apiVersion),
    );
  }

  /** Serves (or re-serves, after a CRD update) the kinds of one group and plural. */
  replace(group: string, plural: string, types: ResourceType[]): void {
    this.remove(group, plural);
    this.types.push(...types);
  }

  remove(group: string, plural: string): void {
    for (let i = this.types.length - 1; i >= 0; i--) {
      const t = this.types[i];
      if (t && t.group === group && t.plural === plural) this.types.splice(i, 1);
    }
  }

  /** Groups in registration order with their versions (the first served version is preferred). */
  groups(): { group: string; versions: string[] }[] {
    const out = new Map<string, string[]>();
    for (const t of this.types) {
      const versions = out.get(t.group) ?? [];
      if (!versions.includes(t.version)) versions.push(t.version);
      out.set(t.group, versions);
    }
    return [...out].map(([group, versions]) => ({ group, versions }));
  }
}
