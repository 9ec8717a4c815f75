import {
  CLIENT_FRAME_TYPES,
  ClientFrame,
  WireError,
  fieldIssues,
  firstIssueText,
} from '../../protocol/index.js';

/** Parses one client frame or throws a wire error naming what was wrong (never echoing input, B.57). */
export function parseClientFrame(data: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (err) {
    throw new WireError('invalid_json', jsonErrorText(err));
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
  return result.data;
}

/** "body is not valid JSON at position N", without Node's own text, which quotes the input. */
export function jsonErrorText(err: unknown, what = 'frame'): string {
  const match = /position (\d+)/.exec(err instanceof Error ? err.message : '');
  return match ? `${what} is not valid JSON at position ${match[1]}` : `${what} is not valid JSON`;
}
