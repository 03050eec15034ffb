/**
 * Property: keys that are also Object.prototype members (`constructor`, `toString`, …) are
 * ordinary keys. As metadata keys they are valid (`^[a-zA-Z0-9-_:. ]{1,255}$`) and must reach
 * Nova; as rebuild fields they are unknown and must be refused, as Nova refuses any unknown key.
 * `__proto__` is the one exception, and deliberate: copying it into an object sets a prototype
 * instead of a key, so it is refused (400) wherever it stands rather than silently dropped.
 * Kept apart from the broad properties, which leave these keys out, so a failure here does not
 * hide everything else they would find.
 *
 * Full count (with the other fuzz files): `FUZZ_RUNS=500 npx vitest run test/fuzz` (see harness.ts).
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { ROOMY_LIMITS, Harness, canonical, countRequests, expectRefused, property } from './harness.js';
import { type Body, PROTOTYPE_KEYS, bulkRequestArb, objectOf, singleRequestArb } from './arbitraries/rebuild.js';
import { clone, eventOf, rawOf, show } from './arbitraries/requests.js';

const h = new Harness(ROOMY_LIMITS);
countRequests('prototype-keys', [h]);

/** Sets `key` as an own property, whatever it is named. */
function setOwn(target: Body, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

describe('keys named like Object.prototype members', () => {
  property(
    'keeps them as metadata keys and refuses them as rebuild fields, in the seed call and in either place of a bulk job',
    fc.tuple(fc.oneof(singleRequestArb(), bulkRequestArb(3)), fc.constantFrom(...PROTOTYPE_KEYS), fc.boolean(), fc.string({ maxLength: 8 })),
    async ([req, key, asMetadata, value]) => {
      const body = clone(req.body);
      // In the seed call the rebuild; in a bulk job the first server's own fields.
      const target =
        req.kind === 'single'
          ? (body.rebuild as Body)
          : ((((body.rebuildJob as Body).servers as Body[])[0] as Body).rebuild ??= {}) as Body;
      const expected = req.expected.map((e) => ({ ...e, rebuild: { ...e.rebuild } }));
      if (asMetadata) {
        const metadata = objectOf([...Object.entries((target.metadata as Body | undefined) ?? {}).slice(0, 5), [key, value]]);
        target.metadata = metadata;
        // A server's own metadata replaces the shared one whole.
        (expected[0] as { rebuild: Body }).rebuild.metadata = metadata;
      } else {
        setOwn(target, key, { imageRef: '00000000-0000-4000-8000-000000000000' });
      }
      const request = rawOf({ ...req, body });
      const res = await h.send(eventOf(request));
      try {
        if (!asMetadata || key === '__proto__') return expectRefused(h, res, 400);
        expect(res.status, res.body.slice(0, 300)).toBe(202);
        const sent = h.queue.messages.find((m) => m.serverId === expected[0]?.serverId);
        expect(canonical(sent?.rebuild)).toBe(canonical(expected[0]?.rebuild));
      } catch (err) {
        throw new Error(`${asMetadata ? 'metadata key' : 'rebuild field'} ${key}: ${(err as Error).message}\nrequest: ${show(request)}`, { cause: err });
      }
    },
  );
});
