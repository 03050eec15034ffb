/**
 * The answer schemas (lib/openstack/answers.ts) against the recorded answers of a real Nova 26,
 * Glance and Keystone (test/fixtures/nova-reference), and against the odd answers a cloud may give.
 */
import { describe, expect, it } from 'vitest';
import { imageAnswer, instanceActionsAnswer, serverAnswer, serverListAnswer, tokenAnswer } from '../../../lib/openstack/answers.js';
import { loadRecording, recordingNames } from '../../support/recordings.js';

const body = (folder: 'responses' | 'responses-keystone', name: string) => JSON.parse(loadRecording(folder, name).response.body) as unknown;

describe("the answers the client reads, as Nova, Glance and Keystone give them", () => {
  it('reads every recorded server list, server view, instance action list, image and token', () => {
    const checks: [RegExp, { safeParse(v: unknown): { success: boolean } }][] = [
      [/^1[123][a-z]?-list-detail.*-200$/, serverListAnswer],
      [/^01b-get-server.*-200$/, serverAnswer],
      [/^05[ac]-os-instance-actions-list.*-200$/, instanceActionsAnswer],
      [/^14a-glance-image-show-200$/, imageAnswer],
    ];
    let read = 0;
    for (const name of recordingNames('responses')) {
      for (const [pattern, schema] of checks) {
        if (!pattern.test(name)) continue;
        expect(schema.safeParse(body('responses', name)).success, name).toBe(true);
        read++;
      }
    }
    expect(read).toBeGreaterThanOrEqual(15);
    const token = tokenAnswer.parse(body('responses-keystone', 'k01-password-auth-scoped-acc-201'));
    expect(token.token.project?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(token.token.catalog?.length).toBeGreaterThan(0);
  });

  it('keeps what it names with the recorded types: locked (2.73) and the embedded flavor (2.47)', () => {
    const [server] = serverListAnswer.parse(body('responses', '13h-list-detail-locked-mv-2.73-200')).servers;
    expect(server).toMatchObject({ locked: true, flavor: { disk: 1, ram: 512 }, 'OS-EXT-STS:task_state': null, image: { id: expect.any(String) } });
    // Fields it does not name pass through.
    expect(server).toHaveProperty('hostId');
  });

  it('drops an odd optional field rather than the answer, and refuses one without what the service needs', () => {
    const odd = serverAnswer.parse({ server: { id: 'x', status: 'ACTIVE', locked: 'maybe', flavor: 'm1.tiny', image: '', updated: 42 } });
    expect(odd.server).toMatchObject({ id: 'x', status: 'ACTIVE', image: '' });
    expect(odd.server.locked).toBeUndefined();
    expect(odd.server.flavor).toBeUndefined();
    expect(odd.server.updated).toBeUndefined();
    expect(serverAnswer.safeParse({ server: { id: 'x' } }).success).toBe(false);
    expect(serverListAnswer.safeParse({ servers: [{ id: 'x', status: 'ACTIVE' }, { status: 'ACTIVE' }] }).success).toBe(false);
    expect(instanceActionsAnswer.safeParse({ instanceActions: [{ action: 'rebuild', request_id: 'req-1' }] }).success).toBe(false);
    // A catalog with an entry that is not a service keeps its other services.
    const token = tokenAnswer.parse({ token: { catalog: ['junk', { type: 'compute', endpoints: [null, { interface: 'public', url: 'http://nova' }] }] } });
    expect(token.token.catalog).toHaveLength(2);
  });
});
