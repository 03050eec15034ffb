/**
 * Property: a valid request with exactly one thing wrong — a field of the wrong type or too long,
 * an unknown key, a field from another microversion, a duplicate server, a bad UUID, a bad
 * microversion, options out of bounds, a quota exceeded, too many servers, a bad Idempotency-Key
 * or tenant — is refused whole with the status Nova's rules give that one thing, as a Nova fault,
 * with nothing written or queued and no secret echoed.
 *
 * Full count (with the other fuzz files): `FUZZ_RUNS=500 npx vitest run test/fuzz` (see harness.ts).
 */
import { describe } from 'vitest';
import fc from 'fast-check';
import { Harness, ROOMY_LIMITS, countRequests, expectRefused, property } from './harness.js';
import { nearValidArb, wrappedSecrets } from './arbitraries/mutations.js';
import { bulkRequestArb, singleRequestArb } from './arbitraries/rebuild.js';
import { type Refusal, byteLength, eventOf, show } from './arbitraries/requests.js';

const h = new Harness(ROOMY_LIMITS);
countRequests('near-valid-requests', [h]);

async function expectRefusal({ request, status, what }: Refusal): Promise<void> {
  const res = await h.send(eventOf(request));
  const want = byteLength(request.body) > h.limits.maxBodyBytes ? 413 : status;
  try {
    expectRefused(h, res, want);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}\nrequest: ${show(request)}`, { cause: err });
  }
}

describe('near-valid rebuild requests', () => {
  property(
    'refuses a seed call with one thing wrong, with the status Nova gives it, writing nothing',
    nearValidArb(singleRequestArb(), h.limits.maxServersPerJob),
    expectRefusal,
  );

  property(
    'refuses a bulk job with one thing wrong in any server or around them, with the status Nova gives it, writing nothing',
    nearValidArb(bulkRequestArb(6), h.limits.maxServersPerJob),
    expectRefusal,
  );
});

describe('secrets in refused requests', () => {
  // Apart from the one-thing-wrong properties so that a leak here does not stop them.
  property(
    'never echoes an adminPass from a container refused for its type (a rebuild, a body or a server in an array)',
    fc.oneof(singleRequestArb(), bulkRequestArb(3)).chain(wrappedSecrets),
    expectRefusal,
  );
});
