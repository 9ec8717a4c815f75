/**
 * Inbound messages as the model sees them (B.51): tagged blocks carrying id, sender, thread and
 * kind. Attribute values and content are escaped so a peer cannot close the block and forge
 * another sender's message.
 */
import type { Message } from '../../protocol/index.js';

const escapeAttribute = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
const escapeContent = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function renderMessage(message: Message): string {
  const attributes = [
    `id="${escapeAttribute(message.id)}"`,
    `from="${escapeAttribute(message.from)}"`,
    `thread="${escapeAttribute(message.thread_id)}"`,
    `kind="${message.kind}"`,
    ...(message.hand ? [`hand="${escapeAttribute(message.hand)}"`] : []),
    ...(message.reply_to ? [`reply_to="${escapeAttribute(message.reply_to)}"`] : []),
  ];
  const input =
    message.input === undefined ? '' : `\n<input>${escapeContent(JSON.stringify(message.input))}</input>`;
  return `<message ${attributes.join(' ')}>${escapeContent(message.content)}${input}</message>`;
}

/** A batch of inbound messages as one user turn. */
export function renderBatch(messages: readonly Message[]): string {
  return messages.map(renderMessage).join('\n');
}
