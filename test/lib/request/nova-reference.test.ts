/**
 * Every rebuild request recorded against a real Nova, replayed through our drop-in endpoint:
 * what Nova refused for its shape we refuse the same way (status and fault name, naming the
 * field); what Nova accepted we accept. Requests Nova refused for the server's state, the image's
 * existence or the token are valid bodies, so we accept them and the worker meets Nova's answer.
 */
import { describe, expect, it } from 'vitest';
import { createApi } from '../../../functions/api-app.js';
import { capturingLogger, MemoryJobStore, MemoryQueue } from '../../support/memory.js';
import { apiEvent, testApiConfig } from '../../support/api.js';
import { type Recording, loadRecordings } from '../../support/recordings.js';

/** Recordings whose Nova answer depended on something other than the request's shape. */
const NOT_ABOUT_THE_BODY: Record<string, string> = {
  '02a-back-to-back-2nd-while-rebuilding-409': 'server busy: the worker retries',
  '02b-rebuild-paused-409': 'server paused: the worker fails it with Nova\'s reason',
  '02c-rebuild-suspended-409': 'server suspended',
  '02f-rebuild-locked-as-nonadmin-409': 'server locked',
  '02h-rebuild-locked-by-self-nonadmin-409': 'server locked',
  '03a-rebuild-nonexistent-server-404': 'unknown server: Nova says so to the worker',
  '03b-rebuild-unknown-image-400': 'whether an image exists is for the worker to find out (a deliberate difference)',
  '03d-rebuild-imageref-full-url-400': 'an image URL is accepted and normalised (a deliberate difference)',
  '03y-no-token-204': 'a noauth pipeline quirk of the recording cloud, not a rebuild',
  '03z-other-project-token-404': 'token scope',
  '03za-url-project-mismatch-400': 'token scope',
};

/**
 * Deliberate differences in how a request is read: the seed documents XML on this call, so we
 * read it where modern Nova says 415; a JSON body sent as XML is then malformed XML.
 */
const DELIBERATE: Record<string, number> = {
  '03q-content-type-application-xml-415': 400,
  '03t-xml-body-with-xml-content-type-415': 202,
};

/** The quota set in force when 06b–06d were recorded (06a). */
const RECORDED_QUOTAS = { QUOTA_METADATA_ITEMS: '1', QUOTA_INJECTED_FILES: '1', QUOTA_INJECTED_FILE_CONTENT_BYTES: '16' };

function replay(rec: Recording) {
  const quotaCase = /^06[bcd]-/.test(rec.name);
  // The recording cloud (Zed) stops at 2.93.
  const config = testApiConfig({ NOVA_MAX_MICROVERSION: '2.93', ...(quotaCase ? RECORDED_QUOTAS : {}) });
  const store = new MemoryJobStore();
  const queue = new MemoryQueue();
  const api = createApi({ store, queue, config, logger: capturingLogger().logger });
  const serverPath = rec.request.path.replace(/^\/v2\.1\/(?:[0-9a-f]{32}\/)?/, '');
  const headers = Object.fromEntries(rec.request.headers.filter(([k]) => k.toLowerCase() !== 'content-length'));
  return { api, store, queue, event: apiEvent(rec.request.method, `/v2/tenant-a/${serverPath.startsWith('servers/') ? serverPath : `servers/${serverPath}`}`, { headers, body: rec.request.body }) };
}

const rebuildRecordings = loadRecordings().filter(
  // The scene-setting calls of the recording (lock, os-stop, ...) are not rebuilds.
  (r) => /\/action$/.test(r.request.path) && !Number.isNaN(r.response.status) && !/^\{"(lock|unlock|pause|suspend|os-)/.test(r.request.body),
);

describe('the drop-in rebuild endpoint against real Nova\'s recorded answers', () => {
  it('has recordings to replay', () => {
    expect(rebuildRecordings.length).toBeGreaterThan(40);
  });

  for (const rec of rebuildRecordings) {
    const skip = NOT_ABOUT_THE_BODY[rec.name];
    const novaStatus = rec.response.status;
    const deliberate = DELIBERATE[rec.name];
    if (deliberate !== undefined) {
      it(`${rec.name}: answers ${deliberate} where Nova said ${novaStatus} (a deliberate difference)`, async () => {
        const { api, event } = replay(rec);
        expect((await api(event)).statusCode).toBe(deliberate);
      });
      continue;
    }
    const refusedForShape = !skip && novaStatus >= 400;
    it(`${rec.name}: ${refusedForShape ? `refuses it like Nova (${novaStatus})` : `accepts it (Nova: ${novaStatus}${skip ? `, ${skip}` : ''})`}`, async () => {
      const { api, store, queue, event } = replay(rec);
      const res = await api(event);
      const body = JSON.parse(res.body ?? '{}') as Record<string, { code: number; message: string }>;
      if (!refusedForShape) {
        expect(res.statusCode, res.body).toBe(202);
        expect(queue.messages).toHaveLength(1);
        return;
      }
      expect(res.statusCode, res.body).toBe(novaStatus);
      expect(store.jobs.size).toBe(0);
      expect(queue.messages).toHaveLength(0);
      if (novaStatus === 404) return; // Nova's is an HTML page; ours is a Nova fault body.
      const novaFault = JSON.parse(rec.response.body) as Record<string, { message: string }>;
      const [faultName] = Object.keys(novaFault);
      expect(Object.keys(body)).toEqual([faultName]);
      const novaMessage = Object.values(novaFault)[0]?.message ?? '';
      const field = /field\/attribute (\S+?)\./.exec(novaMessage)?.[1];
      const ours = Object.values(body)[0]?.message ?? '';
      if (field && field !== 'rebuild') {
        expect(ours).toContain(`field/attribute ${field}`);
      } else if (/Additional properties/.test(novaMessage)) {
        expect(ours).toContain(/\('(\w+)' was unexpected\)/.exec(novaMessage)?.[1] ?? '?');
      } else if (/required property/.test(novaMessage)) {
        expect(ours).toContain("'imageRef' is a required property");
      } else {
        expect(ours).toBe(novaMessage);
      }
    });
  }
});
