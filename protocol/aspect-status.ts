/**
 * The `status` of an Aspect (SPEC section 11, B.63, B.106), written only by the operator. Re-exported
 * by aspect-resource.ts, the resource's one public face.
 */
import { z } from 'zod';

/** The condition types of an Aspect's status, in the order they are reported (B.106). */
export const CONDITION_TYPES = ['HomeReady', 'TokenReady', 'PodReady', 'Registered', 'Ready'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const AspectCondition = z.strictObject({
  type: z.enum(CONDITION_TYPES),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1).max(1024),
  message: z.string().min(1).max(32_768),
  observedGeneration: z.number().int().min(0),
  lastTransitionTime: z.string().max(64),
});
export type AspectCondition = z.infer<typeof AspectCondition>;

export const AspectPhase = z.enum(['Pending', 'Running', 'Suspended', 'Failed']);
export type AspectPhase = z.infer<typeof AspectPhase>;

export const AspectStatus = z.strictObject({
  phase: AspectPhase.optional(),
  observedGeneration: z.number().int().min(0).optional(),
  registered: z.boolean().optional(),
  lastHeartbeat: z.string().max(64).optional(),
  conditions: z.array(AspectCondition).max(8).optional(),
});
export type AspectStatus = z.infer<typeof AspectStatus>;

/**
 * The closed list of condition reasons, documented in the CRD's description (B.106). PodReady's
 * waiting reasons are copied from the pod as Kubernetes names them.
 */
export const CONDITION_REASONS = [
  'Reconciled',
  'InvalidSpec',
  'Suspended',
  'Deleting',
  'ConfigMapMissing',
  'BrokerUnavailable',
  'ClaimBound',
  'ClaimPending',
  'TokenWritten',
  'TokenPending',
  'PodRunning',
  'PodPending',
  'NoPod',
  'ContainersNotReady',
  'Unschedulable',
  'ImagePullBackOff',
  'ErrImagePull',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'Live',
  'Stale',
  'NotRegistered',
  'Down',
  'NameInUse',
  'Ready',
  'NotReady',
] as const;
export type ConditionReason = (typeof CONDITION_REASONS)[number];
