/**
 * The CEL rules of the Aspect CRD (`x-kubernetes-validations`, B.30, B.65): the checks the runtime
 * makes (aspect-config.ts) and the operator makes (aspect-resource.ts) that CEL's standard library
 * can state, so `kubectl apply` refuses them before anything is stored. Each sits on the schema node
 * it reads (`self` is that node, as the API server binds it; the root rule sees the whole object).
 * What CEL cannot check (the model table, byte limits, input schemas, frame namespaces) the operator
 * reports as `InvalidSpec` (B.96).
 *
 * Keys are schema paths in the CRD's spelling: `spec.hands` is the list, `spec.hands[]` each item.
 * The generator refuses a path that names no node, so a renamed field cannot drop its rule.
 */
import {
  CLEAN_MOUNT_PATH,
  DNS_1123_LABEL,
  DOT_SEGMENT,
  EXACTLY_ONE_SOURCE,
  MOUNT_PATH_RULE,
  MOUNT_UNDER_HOME_RULE,
  POD_PATHS,
} from '../aspect-resource.js';
import { celString, type CelRule } from './schema.js';

const exactlyOneSource: CelRule = {
  rule: 'has(self.value) != has(self.configMapKeyRef)',
  message: EXACTLY_ONE_SOURCE,
};

const home = POD_PATHS.home;

export const ASPECT_RULES: Record<string, CelRule[]> = {
  '': [
    {
      rule: 'self.metadata.name.size() <= 52',
      message: 'metadata.name must be at most 52 characters (a StatefulSet name limit)',
    },
    {
      rule: `self.metadata.name.matches(${celString(DNS_1123_LABEL.source)})`,
      message: 'metadata.name must be a DNS-1123 label (lowercase letters, digits, "-")',
    },
  ],
  'spec.provider': [
    {
      rule: "self.kind == 'scripted' || has(self.model)",
      message: 'model is required unless provider.kind is scripted',
    },
    {
      rule: "!has(self.embeddingModel) || self.kind == 'openai-compatible'",
      message: 'embeddingModel is supported only with provider.kind openai-compatible',
    },
  ],
  'spec.provider.baseUrl': [
    {
      rule: "self.startsWith('http://') || self.startsWith('https://')",
      message: 'must be an http or https URL',
    },
  ],
  'spec.hands': [
    {
      rule: 'self.all(h, self.exists_one(x, x.name == h.name))',
      message: 'hand names must be unique',
    },
  ],
  'spec.identity.soul': [exactlyOneSource],
  'spec.identity.agent': [exactlyOneSource],
  'spec.identity.primer': [exactlyOneSource],
  'spec.script': [exactlyOneSource],
  'spec.pod.env[]': [
    {
      rule: "!self.name.startsWith('NEXUS_')",
      message: 'name must not start with NEXUS_ (the operator sets those)',
    },
  ],
  'spec.pod.volumeMounts[]': [
    {
      rule: `self.mountPath.matches(${celString(CLEAN_MOUNT_PATH)}) && !self.mountPath.matches(${celString(DOT_SEGMENT)})`,
      message: `mountPath ${MOUNT_PATH_RULE}`,
    },
    {
      rule: `self.mountPath != ${celString(home)} && !self.mountPath.startsWith(${celString(`${home}/`)})`,
      message: `mountPath ${MOUNT_UNDER_HOME_RULE}`,
    },
  ],
};
