/** The subset of a CRD's OpenAPI v3 schema (`JSONSchemaProps`) that the Aspect CRD uses. */
export interface CelRule {
  rule: string;
  message: string;
}

export interface CrdSchema {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  nullable?: boolean;
  properties?: Record<string, CrdSchema>;
  required?: string[];
  additionalProperties?: CrdSchema;
  maxProperties?: number;
  items?: CrdSchema;
  maxItems?: number;
  minItems?: number;
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  enum?: (string | number | boolean)[];
  minimum?: number;
  maximum?: number;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

/** A CEL string literal holding `text` exactly (CEL's escapes are C-like: backslash and quote). */
export function celString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
