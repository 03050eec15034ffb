/** Reading a job action body (lib/jobs/actions.ts, lib/jobs/redrive.ts): every wrong shape is a 400 naming the field. */
import { describe, expect, it } from 'vitest';
import { parseJobAction } from '../../../lib/jobs/actions.js';

const message = (body: unknown) => {
  try {
    parseJobAction(body);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('job actions', () => {
  it('reads the null actions and update', () => {
    expect(parseJobAction({ cancel: null })).toEqual({ kind: 'cancel' });
    expect(parseJobAction({ pause: null })).toEqual({ kind: 'pause' });
    expect(parseJobAction({ resume: null })).toEqual({ kind: 'resume' });
    expect(parseJobAction({ update: { maxInFlight: 7 } })).toEqual({ kind: 'update', maxInFlight: 7 });
  });

  it('refuses other shapes, naming the field', () => {
    expect(message({ pause: {} })).toContain('pause. The value must be null');
    expect(message({ cancel: null, pause: null })).toContain('send one action');
    expect(message([])).toContain('send one action');
    expect(message({ update: { maxInFlight: 1.5 } })).toContain('update/maxInFlight');
    expect(message({ update: { maxInFlight: 1001 } })).toContain('update/maxInFlight');
    expect(message({ update: { maxInFlight: 2, other: 1 } })).toContain('{"update": {"maxInFlight": n}}');
    expect(message({ reboot: null })).toBe('There is no such action: reboot');
  });

  it('reads a redrive: statuses of FAILED and CANCELLED, and only secret fields given again', () => {
    expect(parseJobAction({ redrive: { status: ['FAILED', 'FAILED'] } })).toEqual({ kind: 'redrive', request: { statuses: ['FAILED'], secrets: {} } });
    expect(parseJobAction({ redrive: { status: ['CANCELLED'], rebuild: { adminPass: 'p' } } })).toEqual({
      kind: 'redrive',
      request: { statuses: ['CANCELLED'], secrets: { adminPass: 'p' } },
    });
    expect(message({ redrive: { status: [] } })).toContain('redrive/status');
    expect(message({ redrive: { status: ['SUCCEEDED'] } })).toContain('redrive/status');
    expect(message({ redrive: { status: ['FAILED'], rebuild: { name: 'x' } } })).toContain('redrive/rebuild/name');
    expect(message({ redrive: { status: ['FAILED'], servers: [] } })).toContain("'servers' was unexpected");
    expect(message({ redrive: null })).toContain('redrive');
  });
});
