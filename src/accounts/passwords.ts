import argon2 from 'argon2';
import type { Config } from '../config/config.ts';
import { checkArgon2Build } from './argon2-build.ts';

/**
 * argon2id at or above OWASP's minimum (m=19456 KiB, t=2, p=1): about 26 ms of CPU per hash
 * on our 2-core machines with the addon's default SSE2 build, 14 ms built for AVX2 and 11 ms
 * for AVX-512, which `npm install` does where the CPU has them (scripts/tune-argon2.js;
 * docs/operations.md records the measurements). Hashing runs on the
 * libuv pool; a small semaphore bounds concurrent hashes so a burst of sign-ins cannot starve
 * the token endpoint.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies against the stored hash, or against a dummy hash when the account does not exist, so timing does not reveal which. */
  verify(storedHash: string | undefined, password: string): Promise<boolean>;
  needsRehash(storedHash: string): boolean;
}

function semaphore(limit: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export function createPasswordHasher(options: Config['argon2']): PasswordHasher {
  checkArgon2Build();
  const params = { type: argon2.argon2id as 2, memoryCost: options.memoryCost, timeCost: options.timeCost, parallelism: options.parallelism };
  const limit = semaphore(options.maxConcurrent);
  let dummyHash: Promise<string> | undefined;
  const dummy = () => (dummyHash ??= argon2.hash('latchkey-dummy-password-for-timing', params));

  return {
    hash: (password) => limit(() => argon2.hash(password, params)),
    async verify(storedHash, password) {
      const hash = storedHash ?? (await dummy());
      const ok = await limit(() => argon2.verify(hash, password).catch(() => false));
      return ok && storedHash !== undefined;
    },
    needsRehash: (storedHash) => argon2.needsRehash(storedHash, params),
  };
}
