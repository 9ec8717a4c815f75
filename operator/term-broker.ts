/**
 * The broker as one leadership term sees it. A lost term stops at once, but a reconcile it was
 * running goes on until its current await returns (the broker client is shared and not aborted);
 * once the term has ended (its signal aborted) every broker write is refused before it is sent, so
 * that reconcile cannot mint, grant, revoke or deregister beside the next leader's. Reads pass:
 * they change nothing.
 */
import type { BrokerAdmin } from './types.js';

export class TermEnded extends Error {
  constructor() {
    super('this leadership term has ended; the broker write was not sent');
    this.name = 'TermEnded';
  }
}

export function termBroker(broker: BrokerAdmin, signal: AbortSignal): BrokerAdmin {
  const write = <R>(send: () => Promise<R>): Promise<R> =>
    signal.aborted ? Promise.reject(new TermEnded()) : send();
  return {
    listTokens: (filter) => broker.listTokens(filter),
    rosterEntry: (aspect) => broker.rosterEntry(aspect),
    grantsTo: (aspect) => broker.grantsTo(aspect),
    mintAspectToken: (aspect, name, admin) => write(() => broker.mintAspectToken(aspect, name, admin)),
    revokeToken: (id) => write(() => broker.revokeToken(id)),
    deregister: (aspect) => write(() => broker.deregister(aspect)),
    grant: (credential, aspect) => write(() => broker.grant(credential, aspect)),
    revokeGrant: (credential, aspect, grantedBy) =>
      write(() => broker.revokeGrant(credential, aspect, grantedBy)),
    putExpectedRoster: (source, aspects) => write(() => broker.putExpectedRoster(source, aspects)),
  };
}
