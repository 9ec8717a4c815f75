export {
  ASPECT_CRD_HEADER,
  ASPECT_CRD_NAME,
  aspectCrd,
  aspectCrdYaml,
  aspectOpenApiSchema,
  aspectSpecSchema,
  aspectStatusSchema,
} from './aspect-crd.js';
export { ASPECT_RULES } from './rules.js';
export { celString, type CelRule, type CrdSchema } from './schema.js';
export { toStructural, type StructuralOptions } from './structural.js';
