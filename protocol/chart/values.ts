/**
 * The chart's values (charts/nexus/values.yaml), the source of charts/nexus/values.schema.json
 * (`npm run generate`; a test fails when they drift). Every object is strict (B.108): a misspelt
 * key is refused by `helm install` with the schema's message. Defaults live in values.yaml.
 */
import { z } from 'zod';
import { PodSettings } from '../aspect-resource.js';
import { Image, StringMap, Workload, kube, kubeList, workloadFields } from './workload.js';

const Replicas = z.int().min(0);
const Port = z.int().min(1).max(65_535);
const Namespace = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name')
  .max(63);
/** A secret the chart does not create: the name of an existing Secret and, where it matters, a key. */
const SecretRef = z.strictObject({ name: z.string().optional(), key: z.string().optional() });

const Global = z.strictObject({
  commonLabels: StringMap.optional(),
  imagePullSecrets: z.array(z.strictObject({ name: z.string().min(1) })).optional(),
  priorityClassName: z.string().optional(),
  imageRegistry: z.string().optional(),
});

const Secrets = z.strictObject({
  existingSecret: z
    .string()
    .optional()
    .describe(
      'a Secret with DATABASE_URL, NEXUS_SECRET_KEY and NEXUS_BOOTSTRAP_TOKEN; the chart then creates none',
    ),
  databaseUrl: z.string().optional(),
  secretKey: z
    .string()
    .optional()
    .describe('32 bytes in base64; generated and kept across upgrades when empty'),
  bootstrapToken: z
    .string()
    .regex(/^$|^nxo_[A-Za-z0-9_-]{43}$/, 'must be an nxo_ token (nxo_ and 43 base64url characters)')
    .optional()
    .describe('generated and kept across upgrades when empty'),
});

const Anthropic = z.strictObject({
  apiKey: z.string().optional().describe('stored in the chart Secret; prefer existingSecret'),
  existingSecret: SecretRef.optional(),
  credential: z.string().optional().describe('the broker credential name it is stored under'),
});

const Broker = z.strictObject({
  ...workloadFields,
  replicas: Replicas.optional(),
  port: Port.optional(),
  logLevel: z.string().optional(),
  service: z
    .strictObject({
      type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).optional(),
      port: Port.optional(),
      annotations: StringMap.optional(),
    })
    .optional(),
  hpa: z
    .strictObject({
      enabled: z.boolean().optional(),
      minReplicas: z.int().min(1).optional(),
      maxReplicas: z.int().min(1).optional(),
      targetCPUUtilizationPercentage: z.int().min(1).max(100).optional(),
    })
    .optional(),
  ingress: z
    .strictObject({
      enabled: z.boolean().optional(),
      className: z.string().optional(),
      annotations: StringMap.optional(),
      hosts: z
        .array(
          z.strictObject({
            host: z.string(),
            paths: z
              .array(
                z.strictObject({
                  path: z.string(),
                  pathType: z.enum(['Prefix', 'Exact', 'ImplementationSpecific']).optional(),
                }),
              )
              .optional(),
          }),
        )
        .optional(),
      tls: kubeList('IngressTLS').optional(),
    })
    .optional(),
});

const Operator = z.strictObject({
  ...workloadFields,
  enabled: z.boolean().optional(),
  replicas: Replicas.optional(),
  watchNamespaces: z.array(Namespace).optional().describe('empty: every namespace (B.61)'),
  frameNamespaces: z.array(Namespace).optional().describe('empty: the release namespace (B.67)'),
  leaseDurationS: z.int().min(1).max(3600).optional(),
  qps: z.number().min(0.1).optional(),
  burst: z.int().min(1).optional(),
  resyncS: z.int().min(1).max(86_400).optional(),
});

const Workers = z.strictObject({
  ...workloadFields,
  enabled: z.boolean().optional(),
  replicas: Replicas.optional().describe('the fixed count when neither KEDA nor an adapter scales them'),
  slots: z.int().min(1).max(256).optional(),
  autoscaling: z
    .strictObject({
      minReplicas: Replicas.optional(),
      maxReplicas: z.int().min(1).optional(),
      keda: z
        .strictObject({
          enabled: z.boolean().optional().describe("used when KEDA's API (keda.sh/v1alpha1) is present"),
          force: z.boolean().optional().describe("render the ScaledObject even when KEDA's API is not seen"),
          pollingInterval: z.int().min(1).optional(),
          cooldownPeriod: z.int().min(0).optional(),
        })
        .optional(),
    })
    .optional(),
});

const Postgres = z.strictObject({
  ...workloadFields,
  enabled: z.boolean().optional(),
  image: Image.optional(),
  database: z.string().optional(),
  user: z.string().optional(),
  password: z.string().optional().describe('generated and kept across upgrades when empty'),
  storage: z
    .strictObject({ size: z.string().optional(), storageClassName: z.string().optional() })
    .optional(),
});

const Hooks = z.strictObject({
  ...workloadFields,
  tokens: z
    .strictObject({ enabled: z.boolean().optional(), backoffLimit: z.int().min(0).optional() })
    .optional(),
  preDelete: z.strictObject({ enabled: z.boolean().optional(), timeout: z.string().optional() }).optional(),
  kubectlImage: Image.optional(),
});

const Monitor = z.strictObject({
  enabled: z.boolean().optional(),
  additionalLabels: StringMap.optional(),
  interval: z.string().optional(),
});

const Metrics = z.strictObject({
  serviceMonitor: Monitor.optional(),
  podMonitor: Monitor.optional(),
  prometheusRule: z
    .strictObject({
      enabled: z.boolean().optional(),
      additionalLabels: StringMap.optional(),
      queueGrowingThreshold: z.int().min(0).optional(),
    })
    .optional(),
  dashboards: z
    .strictObject({
      enabled: z.boolean().optional(),
      labels: StringMap.optional(),
      annotations: StringMap.optional(),
    })
    .optional(),
});

const NetworkPolicy = z.strictObject({
  enabled: z.boolean().optional(),
  aspectEgress: kubeList('NetworkPolicyEgressRule').optional(),
  brokerIngressFrom: kubeList('NetworkPolicyPeer').optional(),
});

const Frame = z.strictObject({
  enabled: z.boolean().optional(),
  name: z.string().optional(),
  provider: z
    .strictObject({
      kind: z.string().optional(),
      model: z.string().optional(),
      credential: z.string().optional(),
    })
    .optional(),
  soul: z.string().optional(),
  spec: kube('Aspect spec fields, merged over the ones above (checked by the CRD)').optional(),
});

export const ChartValues = z.strictObject({
  global: Global.optional(),
  nameOverride: z.string().optional(),
  fullnameOverride: z.string().optional(),
  image: Image.optional().describe('the broker image: broker, operator, worker, migrate and the token hooks'),
  // No pullPolicy: the operator builds Aspect pods and takes no pull policy for them.
  runtimeImage: Image.omit({ pullPolicy: true }).optional().describe('the image of Aspect pods'),
  secrets: Secrets.optional(),
  anthropic: Anthropic.optional(),
  broker: Broker.optional(),
  operator: Operator.optional(),
  workers: Workers.optional(),
  prometheusAdapter: z
    .strictObject({ enabled: z.boolean().optional() })
    .optional()
    .describe('workers: an HPA on nexus_hand_queue_depth (an external metric) when KEDA is not used'),
  postgres: Postgres.optional(),
  hooks: Hooks.optional(),
  tests: Workload.optional(),
  crds: z.strictObject({ enabled: z.boolean().optional(), keep: z.boolean().optional() }).optional(),
  frame: Frame.optional(),
  aspectDefaults: z.strictObject({ pod: PodSettings.optional() }).optional(),
  metrics: Metrics.optional(),
  networkPolicy: NetworkPolicy.optional(),
  extraObjects: z.array(z.union([z.string(), kube('object')])).optional(),
});
export type ChartValues = z.infer<typeof ChartValues>;

/** values.schema.json as written to the chart. */
export function chartValuesJsonSchema(): string {
  const schema = z.toJSONSchema(ChartValues, { io: 'input', target: 'draft-7' });
  return `${JSON.stringify({ title: 'Values of the nexus chart (generated from protocol/chart/values.ts)', ...schema }, null, 2)}\n`;
}
