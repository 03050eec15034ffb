/**
 * Property: on the drop-in call, a valid XML rebuild (the seed's Example 2.30, at every
 * microversion) is accepted as the same request as its JSON form; entity bombs, external
 * entities, deep nesting and documents that are not well-formed are refused with a 4xx Nova
 * fault, writing nothing; no XML document at all gets a 5xx.
 *
 * Full count (with the other fuzz files): `FUZZ_RUNS=500 npx vitest run test/fuzz` (see harness.ts).
 */
import { describe, expect } from 'vitest';
import { HOSTILE_LIMITS, Harness, type Outcome, canonical, countRequests, expectNoSecrets, expectRefused, expectWellBehaved, property } from './harness.js';
import { notWellFormedArb, randomXmlArb, validXmlArb, xmlAttackArb, xmlFidelityArb } from './arbitraries/xml.js';
import { type RawRequest, byteLength, eventOf, show } from './arbitraries/requests.js';

const h = new Harness(HOSTILE_LIMITS);
countRequests('xml-requests', [h]);

async function judge(request: RawRequest, what: string, check: (res: Outcome) => void): Promise<void> {
  const res = await h.send(eventOf(request));
  try {
    check(res);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}\nrequest: ${show(request)}`, { cause: err });
  }
}

describe('XML rebuild requests', () => {
  property('accepts every valid seed call in XML at every microversion and sends Nova exactly its fields', validXmlArb, async (req) => {
    const request: RawRequest = { method: 'POST', path: req.path, headers: req.headers, body: req.xml };
    await judge(request, 'valid XML', (res) => {
      expect(res.status, res.body.slice(0, 400)).toBe(202);
      const [want] = req.expected;
      const [message] = h.queue.messages;
      expect(h.queue.messages).toHaveLength(1);
      expect(message?.serverId).toBe(want?.serverId);
      expect(message?.microversion).toBe(req.options.microversion);
      expect(canonical(message?.rebuild)).toBe(canonical(want?.rebuild));
      expectNoSecrets(h, res);
    });
  });

  property(
    'keeps attribute values exactly as XML defines them: character references decoded, spaces at either end kept',
    xmlFidelityArb,
    async ({ request, field, value }) => {
      await judge(request, `${field} ${JSON.stringify(value)}`, (res) => {
        expect(res.status, res.body.slice(0, 400)).toBe(202);
        const sent = h.queue.messages[0]?.rebuild;
        if (field === 'name') expect(sent?.name).toBe(value);
        if (field === 'adminPass') expect(sent?.adminPass).toBe(value);
        if (field === 'metadata key') expect(Object.keys(sent?.metadata ?? {})).toEqual([value]);
      });
    },
  );

  property(
    'refuses entity bombs, external entities, deep nesting and other non-rebuild XML with a 4xx before expanding or fetching anything',
    xmlAttackArb,
    async ({ request, status, what }) => {
      await judge(request, what, (res) => expectRefused(h, res, byteLength(request.body) > h.limits.maxBodyBytes ? 413 : status));
    },
  );

  property('refuses an XML document that is not well-formed with a 400', notWellFormedArb, async ({ request, what }) => {
    await judge(request, what, (res) => expectRefused(h, res, 400));
  });

  property('answers any well-formed document of the seed vocabulary without a 5xx, and writes only for an accepted one', randomXmlArb, async (request) => {
    await judge(request, 'random XML', (res) => expectWellBehaved(h, res));
  });
});
