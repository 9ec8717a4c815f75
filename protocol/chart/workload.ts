/**
 * The pieces of the chart's values (charts/nexus, B.108) that several parts share: a Kubernetes
 * type passed through as it is, an image reference, and the block every workload takes.
 *
 * Our own objects are strict (`additionalProperties: false` in the generated values.schema.json),
 * so a misspelt key fails `helm install`. A Kubernetes core type inside (affinity, a toleration, a
 * security context) is passed through: its shape is the API server's to check, and the chart's
 * tests validate every rendered object against the Kubernetes schemas.
 */
import { z } from 'zod';

/** The description that marks a pass-through Kubernetes type (the schema test looks for it). */
export const KUBE_TYPE_PREFIX = 'Kubernetes ';

/** A Kubernetes object type passed through unchecked by the chart, e.g. `kube('Affinity')`. */
export const kube = (type: string) =>
  z.record(z.string(), z.unknown()).describe(`${KUBE_TYPE_PREFIX}${type}`);
export const kubeList = (type: string) => z.array(kube(type));

export const StringMap = z.record(z.string(), z.string());

/** `registry/repository:tag` or `@digest`; `global.imageRegistry` replaces the registry. */
export const Image = z.strictObject({
  registry: z.string().optional(),
  repository: z.string().min(1).optional(),
  tag: z.string().optional().describe('default: the chart appVersion (broker and runtime images)'),
  digest: z
    .string()
    .regex(/^$|^sha256:[0-9a-f]{64}$/, 'must be sha256: and 64 hex digits')
    .optional()
    .describe('pins the image; wins over the tag'),
  pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
});

export const Pdb = z.strictObject({
  enabled: z.boolean().optional(),
  maxUnavailable: z.union([z.int().min(0), z.string().regex(/^\d+%$/)]).optional(),
});

/** B.108: what every workload of the chart takes. */
export const workloadFields = {
  nodeSelector: StringMap.optional(),
  tolerations: kubeList('Toleration').optional(),
  affinity: kube('Affinity').optional(),
  topologySpreadConstraints: kubeList('TopologySpreadConstraint').optional(),
  priorityClassName: z.string().optional(),
  podAnnotations: StringMap.optional(),
  podLabels: StringMap.optional(),
  podSecurityContext: kube('PodSecurityContext (merged over the restricted defaults)').optional(),
  containerSecurityContext: kube('SecurityContext (merged over the restricted defaults)').optional(),
  resources: kube('ResourceRequirements').optional(),
  extraEnv: kubeList('EnvVar').optional(),
  extraVolumes: kubeList('Volume').optional(),
  extraVolumeMounts: kubeList('VolumeMount').optional(),
  pdb: Pdb.optional(),
};

export const Workload = z.strictObject(workloadFields);
