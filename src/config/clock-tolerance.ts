/**
 * Seconds of clock skew tolerated when checking times in tokens and assertions (oidc-provider's
 * clockTolerance, JWT introspection), and added to how long a retired signing key stays
 * published (keys/key-states.ts): a token can be accepted that long after it expired.
 */
export const CLOCK_TOLERANCE = 5;
