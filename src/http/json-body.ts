import type { Context } from 'koa';

/**
 * Reads a small JSON object body for Latchkey's own endpoints (WebAuthn, admin API; the provider
 * parses its own). Undefined when the body is not a JSON object or is over `maxBytes`.
 */
export const MAX_JSON_BYTES = 64 * 1024;

export async function readJson(ctx: Context, maxBytes = MAX_JSON_BYTES): Promise<Record<string, unknown> | undefined> {
  if (!ctx.is('application/json')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
