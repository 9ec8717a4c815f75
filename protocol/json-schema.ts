import { z } from 'zod';
import { AspectConfig } from './aspect-config.js';
import { ClaimedDispatch, DispatchRequest, ResultEnvelope } from './hands.js';
import { ClientFrame, ServerFrame } from './frames.js';
import { Message, SendRequest } from './messages.js';
import { RegisterRequest } from './roster.js';
import { AlarmRequest, ExpectedRosterRequest } from './team.js';
import { KnowledgeSearchRequest, StoreKnowledgeRequest } from './knowledge.js';

const HEADER = 'generated from protocol/ by scripts/generate-schemas.ts — do not edit';

/** The JSON Schema files published in docs/generated/, by file name, as the exact text to write. */
export function generatedSchemas(): Record<string, string> {
  const shapes: Record<string, z.ZodType> = {
    'aspect.schema.json': AspectConfig,
    'register-request.schema.json': RegisterRequest,
    'send-request.schema.json': SendRequest,
    'message.schema.json': Message,
    'client-frame.schema.json': ClientFrame,
    'server-frame.schema.json': ServerFrame,
    'dispatch-request.schema.json': DispatchRequest,
    'result-envelope.schema.json': ResultEnvelope,
    'claimed-dispatch.schema.json': ClaimedDispatch,
    'alarm-request.schema.json': AlarmRequest,
    'expected-roster-request.schema.json': ExpectedRosterRequest,
    'knowledge-store-request.schema.json': StoreKnowledgeRequest,
    'knowledge-search-request.schema.json': KnowledgeSearchRequest,
  };
  return Object.fromEntries(
    Object.entries(shapes).map(([file, schema]) => {
      const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
      return [file, `${JSON.stringify({ $comment: HEADER, ...json }, null, 2)}\n`];
    }),
  );
}
