/**
 * Property: whatever surrounds a valid body — any Content-Type, microversion header,
 * Idempotency-Key or other header, any path and method, any percent-encoding in the path — the
 * answer follows the documented rules, is never a 5xx, and a refusal writes nothing.
 *
 * Full count (with the other fuzz files): `FUZZ_RUNS=500 npx vitest run test/fuzz` (see harness.ts).
 */
import { describe, expect } from 'vitest';
import { HOSTILE_LIMITS, Harness, type Outcome, countRequests, expectRefused, expectWellBehaved, property } from './harness.js';
import { contentTypeCaseArb, expectedMediaType, headerNoiseArb, keyCaseArb, pathCaseArb, percentPathArb, versionCaseArb } from './arbitraries/envelope.js';
import { type RawRequest, eventOf, show } from './arbitraries/requests.js';

const h = new Harness(HOSTILE_LIMITS);
countRequests('hostile-envelope', [h]);

async function judge(request: RawRequest, what: string, check: (res: Outcome) => void): Promise<void> {
  const res = await h.send(eventOf(request));
  try {
    check(res);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}\nrequest: ${show(request)}`, { cause: err });
  }
}

/** A valid request's answer: 202 and one message per server at the job's microversion. */
function expectJob(res: Outcome, servers: number, microversion?: string): void {
  expect(res.status, res.body.slice(0, 400)).toBe(202);
  expectWellBehaved(h, res);
  expect(h.queue.messages).toHaveLength(servers);
  if (microversion) for (const m of h.queue.messages) expect(m.microversion).toBe(microversion);
}

describe('hostile request envelopes', () => {
  property(
    'reads a missing, empty, JSON or text/plain Content-Type as JSON, XML only on the seed call, and answers 415 to any other',
    contentTypeCaseArb,
    async ({ req, contentType, request }) => {
      await judge(request, `Content-Type ${JSON.stringify(contentType)}`, (res) => {
        const media = expectedMediaType(contentType, req.kind);
        if (media === 'json') expectJob(res, req.expected.length);
        // A JSON body read as XML is malformed XML.
        else if (media === 'xml') expectRefused(h, res, 400);
        else expectRefused(h, res, 415);
      });
    },
  );

  property(
    'runs the job at the microversion the headers name (OpenStack-API-Version first), 400 for a malformed one and 406 for one the cloud lacks',
    versionCaseArb,
    async ({ req, request, means, what }) => {
      await judge(request, what, (res) => {
        if (means === 400 || means === 406) expectRefused(h, res, means);
        else expectJob(res, req.expected.length, `2.${means}`);
      });
    },
  );

  property('takes an Idempotency-Key of 1 to 255 visible ASCII characters and refuses any other with a 400', keyCaseArb, async ({ req, request, valid }) => {
    await judge(request, 'Idempotency-Key', (res) => {
      if (valid) {
        expectJob(res, req.expected.length);
        expect(h.store.claims.size).toBe(1);
      } else {
        expectRefused(h, res, 400);
      }
    });
  });

  property('is not swayed by headers it does not read, whatever their values', headerNoiseArb, async ({ req, request }) => {
    await judge(request, 'extra headers', (res) => expectJob(res, req.expected.length));
  });

  property('answers any method on any path without a 5xx, and writes only for an accepted submission', pathCaseArb, async (request) => {
    await judge(request, 'path', (res) => expectWellBehaved(h, res));
  });

  property('answers percent-encoded and malformed percent-encoded path segments without a 5xx', percentPathArb, async (request) => {
    await judge(request, 'percent-encoding', (res) => expectWellBehaved(h, res));
  });
});
