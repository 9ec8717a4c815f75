import {
  CLIENT_FRAME_TYPES,
  ClientFrame,
  WireError,
  fieldIssues,
  firstIssueText,
  nulCharacterIssue,
} from '../../protocol/index.js';
import { jsonErrorText } from '../http/json-position.js';

/** Parses one client frame or throws a wire error naming what was wrong (never echoing input, B.57). */
export function parseClientFrame(data: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    throw new WireError('invalid_json', jsonErrorText(data, 'frame'));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new WireError('invalid_request', '(root): a frame must be a JSON object');
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !(CLIENT_FRAME_TYPES as string[]).includes(type)) {
    throw new WireError('invalid_request', `type: must be one of ${CLIENT_FRAME_TYPES.join(', ')}`);
  }
  const result = ClientFrame.safeParse(value);
  if (!result.success) {
    throw new WireError('invalid_request', firstIssueText(result.error), {
      issues: fieldIssues(result.error),
    });
  }
  const nul = nulCharacterIssue(value);
  if (nul) throw new WireError('invalid_request', `${nul.path}: ${nul.message}`, { issues: [nul] });
  return result.data;
}
