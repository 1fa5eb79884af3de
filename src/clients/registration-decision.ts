import { currentRequest } from '../storage/payload-reads.ts';

/**
 * What the DCR policy decided (API scopes, owner) handed to the client store's upsert in the same
 * request: oidc-provider calls the policy and then the adapter, with nothing of ours between.
 * Keyed by the request (oidc-provider's request store, `Provider.ctx`, read through
 * storage/payload-reads.ts), so a decision can never reach another request's client; a WeakMap,
 * so a request that fails after its policy leaves nothing behind.
 */
/** Requests whose DCR policy counted a use of their initial access token (given back if the registration fails). */
export const countedUses = new WeakSet<object>();

export interface RegistrationDecision {
  scopeIds?: string[];
  ownerId?: string | null;
}

const decisions = new WeakMap<object, Map<string, RegistrationDecision>>();

export function rememberDecision(clientId: string, decision: RegistrationDecision): void {
  const request = currentRequest();
  if (!request) return;
  const forRequest = decisions.get(request) ?? new Map<string, RegistrationDecision>();
  forRequest.set(clientId, decision);
  decisions.set(request, forRequest);
}

export function takeDecision(clientId: string): RegistrationDecision | undefined {
  const request = currentRequest();
  const forRequest = request ? decisions.get(request) : undefined;
  const decision = forRequest?.get(clientId);
  forRequest?.delete(clientId);
  return decision;
}
