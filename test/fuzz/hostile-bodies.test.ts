/**
 * Property: whatever body arrives at the submit calls — random JSON, deep nesting, huge strings
 * and collections, bytes that are not UTF-8, truncated or malformed JSON, bodies over the size
 * limit — the answer is never a 5xx; what is refused is a 4xx Nova fault with nothing written or
 * queued, and no secret is echoed.
 *
 * Full count (with the other fuzz files): `FUZZ_RUNS=500 npx vitest run test/fuzz` (see harness.ts).
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { HOSTILE_LIMITS, Harness, countRequests, expectRefused, expectWellBehaved, property } from './harness.js';
import { BULK_PATH, SINGLE_PATH, anyJsonArb, deepArb, hugeArb, jsonRequest, malformedJsonArb, notUtf8Arb, paddedToArb } from './arbitraries/hostile.js';
import { type RawRequest, byteLength, eventOf, show } from './arbitraries/requests.js';

const h = new Harness(HOSTILE_LIMITS);
countRequests('hostile-bodies', [h]);

async function expectStatus(request: RawRequest, what: string, judge: (res: Awaited<ReturnType<Harness['send']>>) => void): Promise<void> {
  const res = await h.send(eventOf(request));
  try {
    judge(res);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}\nrequest: ${show(request)}`, { cause: err });
  }
}

/** The status for a request that must be refused with `status` unless its body is over the limit. */
function refusedAs(request: RawRequest, status: number) {
  return (res: Awaited<ReturnType<Harness['send']>>) => expectRefused(h, res, byteLength(request.body) > h.limits.maxBodyBytes ? 413 : status);
}

describe('hostile request bodies', () => {
  property(
    'never answers 5xx to any JSON value on either submit call, and refuses it as a Nova fault unless it is a valid request',
    fc.tuple(fc.constantFrom(SINGLE_PATH, BULK_PATH), anyJsonArb),
    async ([path, body]) => {
      const request = jsonRequest(path, body);
      await expectStatus(request, 'random JSON', (res) => expectWellBehaved(h, res));
    },
  );

  property('refuses a value nested up to 33,000 levels deep anywhere in the body with a 400 (413 past the size limit), never a 5xx', deepArb, async ({ request, what }) => {
    await expectStatus(request, what, refusedAs(request, 400));
  });

  property(
    'bounds huge strings, collections and header values: 400 where the schema bounds them, 403 for quotas, 413 for servers or bytes, 202 for an unbounded adminPass',
    hugeArb,
    async ({ request, status, what }) => {
      await expectStatus(request, what, (res) => {
        const want = byteLength(request.body) > h.limits.maxBodyBytes ? 413 : status;
        if (want === 202) {
          expect(res.status, res.body.slice(0, 300)).toBe(202);
          expectWellBehaved(h, res);
          expect(h.queue.messages).toHaveLength(1);
        } else {
          expectRefused(h, res, want);
        }
      });
    },
  );

  property('refuses a body that is not UTF-8 (sent as bytes) with a 400', notUtf8Arb, async ({ request, what }) => {
    await expectStatus(request, what, refusedAs(request, 400));
  });

  property('refuses truncated and malformed JSON with a 400', malformedJsonArb, async ({ request, what }) => {
    await expectStatus(request, what, refusedAs(request, 400));
  });

  property(
    'accepts a body of exactly MAX_BODY_BYTES and refuses one byte more with a 413 that does not echo it, text or base64',
    paddedToArb(HOSTILE_LIMITS.maxBodyBytes),
    async ({ request, bytes }) => {
      await expectStatus(request, `${bytes} bytes`, (res) => {
        if (bytes <= h.limits.maxBodyBytes) {
          expect(res.status, res.body.slice(0, 300)).toBe(202);
          expectWellBehaved(h, res);
        } else {
          expectRefused(h, res, 413);
        }
      });
    },
  );
});
