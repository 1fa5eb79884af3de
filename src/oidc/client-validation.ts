import type Provider from 'oidc-provider';
import type { ValidateClientMetadata } from '../clients/client-registry.ts';
import { InputError } from '../errors.ts';

/**
 * Runs oidc-provider's own client-metadata validation (the same code that validates clients
 * at request time), so a client stored through any path is one the provider accepts.
 * Returns the normalised snake_case metadata with defaults applied.
 */
export function clientMetadataValidator(getProvider: () => Provider): ValidateClientMetadata {
  return async (metadata) => {
    try {
      const provider = getProvider();
      await (provider.Client as unknown as { validate(m: unknown): Promise<void> }).validate(metadata);
      const ClientModel = provider.Client as unknown as new (m: unknown) => { metadata(): Record<string, unknown> };
      return new ClientModel(metadata).metadata();
    } catch (error) {
      const e = error as { error?: string; error_description?: string; message?: string };
      if (e.error) throw new InputError(`${e.error}: ${e.error_description ?? e.message}`);
      throw error;
    }
  };
}
