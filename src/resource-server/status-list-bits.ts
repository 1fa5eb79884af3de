import { deflateSync, inflateSync } from 'node:zlib';

/**
 * The Status List bitstring of draft-ietf-oauth-status-list: entry i occupies `bits` bits
 * starting at bit i·bits, least significant bit first within each byte; the byte array is
 * compressed with DEFLATE in the ZLIB format and base64url-encoded as `lst`.
 * Values: 0 valid, 1 invalid (revoked), 2 suspended, 3 application-specific.
 */
export type StatusBits = 1 | 2 | 4 | 8;

export const STATUS_VALID = 0;
export const STATUS_INVALID = 1;

export const isStatusBits = (value: unknown): value is StatusBits => value === 1 || value === 2 || value === 4 || value === 8;

/** A zeroed (all valid) list with room for `size` entries. */
export function createStatusList(size: number, bits: StatusBits = 1): Uint8Array {
  return new Uint8Array(Math.ceil((size * bits) / 8));
}

/** Number of entries a byte array holds. */
export const statusListSize = (list: Uint8Array, bits: StatusBits) => Math.floor((list.length * 8) / bits);

export function setStatus(list: Uint8Array, index: number, value: number, bits: StatusBits = 1): void {
  if (!Number.isInteger(index) || index < 0 || index >= statusListSize(list, bits)) throw new RangeError(`status index ${index} is out of range`);
  const mask = (1 << bits) - 1;
  if (!Number.isInteger(value) || value < 0 || value > mask) throw new RangeError(`status value ${value} does not fit in ${bits} bit(s)`);
  const bit = index * bits;
  const byte = bit >> 3;
  const shift = bit & 7;
  list[byte] = (list[byte]! & ~(mask << shift)) | (value << shift);
}

/** The entry's value, or undefined when the index lies outside the list. */
export function getStatus(list: Uint8Array, index: number, bits: StatusBits = 1): number | undefined {
  if (!Number.isInteger(index) || index < 0 || index >= statusListSize(list, bits)) return undefined;
  const bit = index * bits;
  return (list[bit >> 3]! >> (bit & 7)) & ((1 << bits) - 1);
}

/** base64url(zlib-deflate(list)): the `lst` member. */
export function compressStatusList(list: Uint8Array): string {
  return deflateSync(list, { level: 9 }).toString('base64url');
}

/** Inverse of compressStatusList; refuses output beyond `maxBytes` (a decompression bomb). */
export function decompressStatusList(lst: string, maxBytes = 4 * 1024 * 1024): Uint8Array {
  if (typeof lst !== 'string' || !/^[A-Za-z0-9_-]*$/.test(lst)) throw new TypeError('lst is not base64url');
  return new Uint8Array(inflateSync(Buffer.from(lst, 'base64url'), { maxOutputLength: maxBytes }));
}
