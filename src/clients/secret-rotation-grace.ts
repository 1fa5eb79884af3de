/**
 * Secret rotation with a grace period: after `client rotate-secret --grace`, the previous secret
 * is accepted until it expires. oidc-provider compares secrets in Client#compareClientSecret;
 * this wraps it (the one patch of an oidc-provider prototype, listed in docs/architecture.md):
 * the current secret first, then the previous one, in constant time.
 */
import type Provider from 'oidc-provider';
import type { Services } from '../context.ts';
import { constantTimeEqual } from '../crypto/constant-time.ts';

export function acceptPreviousSecretDuringGrace(provider: Provider, services: Services): void {
  const { clients } = services;
  const proto = provider.Client.prototype as unknown as { compareClientSecret(actual: string): Promise<boolean> | boolean; clientId: string };
  const original = proto.compareClientSecret;
  proto.compareClientSecret = async function (this: { clientId: string }, actual: string) {
    if (await original.call(this, actual)) return true;
    const previous = (await clients.find(this.clientId))?.previousSecret;
    return Boolean(previous && previous.validUntil > Date.now() && constantTimeEqual(previous.value, actual));
  };
}
