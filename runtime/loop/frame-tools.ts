/**
 * The frame's admin overrides as runtime tools (SPEC section 8, B.4, B.92): abort a dispatch,
 * shut an aspect down (stay-down) or clear it, revoke an aspect's tokens. They call the broker's
 * admin routes, which check the admin scope on every call and audit each override with the frame
 * as actor; the runtime only decides what the model is offered.
 *
 * Offered only to an aspect whose `role` is `frame` and only when its aspect.json names them in
 * `tools` (they are not in the default list, B.59). The admin scope is checked by registration:
 * the broker registers `role: "frame"` only under an admin-scoped token (B.4), so a frame runtime
 * that runs at all holds one; a later token without it gets `403 admin_required` from each call.
 */
import { z } from 'zod';
import {
  AspectName,
  DecimalId,
  WireError,
  type AbortReply,
  type DispatchInfo,
  type ShutdownReply,
  type TokenInfo,
} from '../../protocol/index.js';
import type { BrokerCaller } from './broker-retry.js';
import type { RuntimeTool } from './tools.js';

const AbortDispatchInput = z.strictObject({
  dispatch_id: DecimalId.describe('the dispatch to abort (from the queue or a hand message)'),
});

const ShutdownAspectInput = z.strictObject({
  name: AspectName.describe('the aspect to shut down'),
  clear: z.boolean().optional().describe('true lifts an earlier shutdown instead'),
});

const RevokeTokensInput = z.strictObject({
  aspect: AspectName.describe('the aspect whose tokens are revoked'),
});

type Shutdown = z.infer<typeof ShutdownReply>;

const path = (name: string) => encodeURIComponent(name);

/** `abort_dispatch`: ends a queued dispatch at once, a running one at its worker's next heartbeat. */
export function abortDispatchTool(broker: BrokerCaller): RuntimeTool<z.infer<typeof AbortDispatchInput>> {
  return {
    name: 'abort_dispatch',
    description:
      'Admin override: abort a Hand dispatch of any aspect. A queued dispatch ends at once; a running one ends at its next heartbeat. Audited.',
    input: AbortDispatchInput,
    run: async (input, context) => {
      const route = `/v1/hands/dispatches/${path(input.dispatch_id)}`;
      try {
        return await broker.post<AbortReply>(`${route}/abort`, {}, context.signal);
      } catch (err) {
        // 409: it is done. Perhaps by this very abort, whose reply a dying replica lost before the
        // retry (B.110): either way the model is told the state it is in, not a failure.
        if (!(err instanceof WireError && err.code === 'conflict')) throw err;
        const state = await broker.get<DispatchInfo>(route, context.signal);
        return {
          state: state.state,
          ...(state.result ? { result: state.result } : {}),
          note: 'already done',
        };
      }
    },
  };
}

/** `shutdown_aspect`: stay-down (B.15), or with `clear` its end. */
export function shutdownAspectTool(broker: BrokerCaller): RuntimeTool<z.infer<typeof ShutdownAspectInput>> {
  return {
    name: 'shutdown_aspect',
    description:
      'Admin override: shut an aspect down and keep it down (it is disconnected and cannot register again; its queued dispatches end), or with clear: true let it return. Audited.',
    input: ShutdownAspectInput,
    run: async (input, context) => {
      const route = `/v1/admin/aspects/${path(input.name)}/shutdown`;
      if (input.clear) return broker.delete<Shutdown>(route, context.signal);
      return broker.post<Shutdown>(route, {}, context.signal);
    },
  };
}

/** `revoke_tokens`: revokes every live token of an aspect; each revocation is audited. */
export function revokeTokensTool(broker: BrokerCaller): RuntimeTool<z.infer<typeof RevokeTokensInput>> {
  return {
    name: 'revoke_tokens',
    description:
      'Admin override: revoke every live token of an aspect, so it can no longer reach the broker until an admin mints a new one. Audited.',
    input: RevokeTokensInput,
    run: async (input, context) => {
      const { tokens } = await broker.get<{ tokens: TokenInfo[] }>(
        `/v1/admin/tokens?aspect=${path(input.aspect)}&kind=aspect`,
        context.signal,
      );
      const live = tokens.filter((t) => t.revoked_at === undefined);
      // Revoking is idempotent at the broker, so a call resumed after a crash revokes nothing twice.
      for (const token of live) await broker.delete(`/v1/admin/tokens/${path(token.id)}`, context.signal);
      return { aspect: input.aspect, revoked: live.map((t) => t.id) };
    },
  };
}

/** The override tools by name, for the runtime's tool table. */
export const FRAME_TOOL_FACTORIES: Record<FrameTool, (broker: BrokerCaller) => RuntimeTool> = {
  abort_dispatch: abortDispatchTool,
  shutdown_aspect: shutdownAspectTool,
  revoke_tokens: revokeTokensTool,
};

type FrameTool = 'abort_dispatch' | 'shutdown_aspect' | 'revoke_tokens';

/** Whether `tool` is an override an aspect of `role` must not be offered (B.92). */
export function frameOnly(tool: string, role: 'aspect' | 'frame'): boolean {
  return role !== 'frame' && tool in FRAME_TOOL_FACTORIES;
}
