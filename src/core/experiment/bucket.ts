// Sticky bucket assignment: a customer's bucket (0..9999) is a SHA-256 hash of (salt, scope, customer id), so it
// never changes while the salt stays, needs no stored state, and buckets of different scopes are independent.
import { createHash } from "node:crypto";

export const BUCKETS = 10_000;
// 2^32 is not a multiple of 10 000: words at or above this limit would favour low buckets, so they are skipped.
const UNBIASED_LIMIT = 2 ** 32 - (2 ** 32 % BUCKETS);

/**
 * The customer's bucket in 0..9999 for a salt (the workspace's, or a rotated global-control salt) and an optional
 * scope (a scenario or experiment id). The inputs are JSON-encoded together so no two different triples can
 * produce the same hashed text.
 */
export function bucketOf(salt: string, customerId: string, scope?: string): number {
  let text = JSON.stringify([salt, scope ?? null, customerId]);
  for (;;) {
    const digest = createHash("sha256").update(text).digest();
    for (let offset = 0; offset + 4 <= digest.length; offset += 4) {
      const word = digest.readUInt32BE(offset);
      if (word < UNBIASED_LIMIT) return word % BUCKETS;
    }
    // All eight words rejected (chance about 1e-46): hash again.
    text = digest.toString("hex");
  }
}
