import type Provider from 'oidc-provider';
import mount from 'koa-mount';
import type { Middleware } from 'koa';

/**
 * oidc-provider reads its keys once, in its constructor. When signing keys rotate (on this
 * instance or another), the provider is rebuilt and swapped in; requests already in flight
 * finish on the previous one. Sessions, grants and tokens live in the database, so nothing is lost.
 */
export class ProviderHolder {
  #provider: Provider;
  #mounted: Middleware;

  constructor(provider: Provider) {
    this.#provider = provider;
    this.#mounted = mount(provider as never);
  }

  get current(): Provider {
    return this.#provider;
  }

  replace(provider: Provider): void {
    this.#provider = provider;
    this.#mounted = mount(provider as never);
  }

  /** The Koa middleware that forwards to whichever provider is current. */
  middleware(): Middleware {
    return (ctx, next) => this.#mounted(ctx, next);
  }
}
