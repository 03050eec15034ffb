/**
 * Nova's faults: `{"<faultName>": {"code": N, "message": "..."}}`, the name chosen by status code
 * (nova/api/openstack/wsgi.py Fault._fault_names). Messages that clients branch on are copied from
 * the recordings named beside each constructor.
 */

const FAULT_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

/** A Nova API error, rendered as Nova's JSON fault. */
export class NovaFault extends Error {
  override readonly name = 'NovaFault';
  readonly faultName: string;

  constructor(
    readonly status: number,
    message: string,
    faultName?: string,
    /** Sent as Retry-After; also `retryAfter` in the body for 413/429, as Nova's Fault does. */
    readonly retryAfter?: string,
  ) {
    super(message);
    this.faultName = faultName ?? FAULT_NAMES[status] ?? 'computeFault';
  }
}

export const badRequest = (message: string): NovaFault => new NovaFault(400, message);

/** 03a, 03z, k06a: an unknown server and another project's server look the same. */
export const instanceNotFound = (id: string): NovaFault => new NovaFault(404, `Instance ${id} could not be found.`);

/** 02f, 02h. */
export const instanceLocked = (id: string): NovaFault => new NovaFault(409, `Instance ${id} is locked`);

/** 02a (task_state), 02b/02c (vm_state): common.raise_http_conflict_for_instance_invalid_state. */
export const invalidState = (action: string, id: string, attr: 'vm_state' | 'task_state', state: string): NovaFault =>
  new NovaFault(409, `Cannot '${action}' instance ${id} while it is in ${attr} ${state}`);

/** 03s, 03u. */
export const malformedBody = (): NovaFault => badRequest('Malformed request body');

/** 03q, 03t. */
export const unsupportedContentType = (): NovaFault => new NovaFault(415, 'Unsupported Content-Type');

/** 03za, k06c. */
export const projectMismatch = (urlProject: string, contextProject: string | null): NovaFault =>
  badRequest(
    `Malformed request URL: URL's project_id '${urlProject}' doesn't match Context's project_id '${contextProject ?? 'None'}'`,
  );

/** k06e: a policy refusal. */
export const policyForbids = (rule: string): NovaFault =>
  new NovaFault(403, `Policy doesn't allow ${rule} to be performed.`);

/** 02b-concurrent-*: what a lost race between two rebuilds of one server looks like. */
export const UNEXPECTED_TASK_STATE_MESSAGE =
  "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'nova.exception.UnexpectedTaskStateError'>";
