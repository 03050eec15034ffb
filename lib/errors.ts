/**
 * The service's errors, one hierarchy. `ServiceError` is the base; `ApiError`s become Nova fault
 * bodies (`{"<faultName>": {"code": N, "message": "..."}}`) and fix their status code and fault name
 * so a handler never has to choose them; the others are the domain's names for what went wrong
 * below it (a store or queue outage, a conditional write that lost), so no caller looks at an
 * SDK's error shapes. `retryable` says whether doing the same again later may succeed.
 */
export abstract class ServiceError extends Error {
  abstract readonly retryable: boolean;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export abstract class ApiError extends ServiceError {
  abstract readonly statusCode: number;
  abstract readonly faultName: string;
  readonly retryable: boolean = false;
  /** Extra response headers (e.g. `Allow` on a 405). */
  readonly headers: Record<string, string> = {};
  /** Extra members of the fault object (e.g. the list of invalid fields), beside code and message. */
  readonly extra: Record<string, unknown> = {};

  /** The Nova fault body for this error. */
  toFault(): Record<string, { code: number; message: string }> {
    return { [this.faultName]: { code: this.statusCode, message: this.message, ...this.extra } };
  }
}

export class BadRequestError extends ApiError {
  override readonly name = 'BadRequestError';
  readonly statusCode = 400;
  readonly faultName = 'badRequest';
}

export class ForbiddenError extends ApiError {
  override readonly name = 'ForbiddenError';
  readonly statusCode = 403;
  readonly faultName = 'forbidden';
}

export class NotFoundError extends ApiError {
  override readonly name = 'NotFoundError';
  readonly statusCode = 404;
  readonly faultName = 'itemNotFound';
}

export class MethodNotAllowedError extends ApiError {
  override readonly name = 'MethodNotAllowedError';
  readonly statusCode = 405;
  readonly faultName = 'badMethod';
  constructor(message: string, allow: string[]) {
    super(message);
    this.headers.Allow = allow.join(', ');
  }
}

/** Nova answers an unsupported microversion with 406 and the fault name `computeFault` (04h). */
export class NotAcceptableError extends ApiError {
  override readonly name = 'NotAcceptableError';
  readonly statusCode = 406;
  readonly faultName = 'computeFault';
}

export class ConflictError extends ApiError {
  override readonly name = 'ConflictError';
  readonly statusCode = 409;
  readonly faultName = 'conflictingRequest';
}

export class OverLimitError extends ApiError {
  override readonly name = 'OverLimitError';
  readonly statusCode = 413;
  readonly faultName = 'overLimit';
}

export class UnsupportedMediaTypeError extends ApiError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly statusCode = 415;
  readonly faultName = 'badMediaType';
}

/** A dependency (queue, table) failed; the message is safe to show and names what to do next. */
export class ServiceUnavailableError extends ApiError {
  override readonly name = 'ServiceUnavailableError';
  readonly statusCode = 503;
  readonly faultName = 'serviceUnavailable';
  override readonly retryable = true;
}

/** A job with this id does not exist in the project (or the caller may not see it, which must look the same). */
export class JobNotFoundError extends NotFoundError {
  constructor(jobId: string) {
    super(`Rebuild job ${jobId} could not be found.`);
  }
}

/** The store could not take every record after its retries (throttling, outage). */
export class StoreUnavailableError extends ServiceError {
  override readonly name = 'StoreUnavailableError';
  readonly retryable = true;
}

/** The queue refused messages after its retries; `sentServerIds` tells which made it. */
export class QueueUnavailableError extends ServiceError {
  override readonly name = 'QueueUnavailableError';
  readonly retryable = true;
  constructor(
    message: string,
    readonly sentServerIds: ReadonlySet<string>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A conditional write lost: the server record is not in the state the caller read. */
export class ConditionFailedError extends ServiceError {
  override readonly name = 'ConditionFailedError';
  readonly retryable = false;
}

/** In a write of several moves, move number `index` lost its condition: that record was moved by someone else. */
export class MoveLostError extends ConditionFailedError {
  constructor(
    message: string,
    readonly index: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A claim found every in-flight slot of the job taken (maxInFlight). */
export class SlotsFullError extends ServiceError {
  override readonly name = 'SlotsFullError';
  readonly retryable = true;
}

/** The job's remaining count or stop changed since it was read: read the job again and redo the write. */
export class JobMovedError extends ServiceError {
  override readonly name = 'JobMovedError';
  readonly retryable = true;
}

/** The idempotency scope is already claimed (by `existing.jobId`). */
export class IdempotencyClaimedError extends ServiceError {
  override readonly name = 'IdempotencyClaimedError';
  readonly retryable = false;
  constructor(readonly existing: { scope: string; jobId: string; fingerprint: string; expiresAt: number }) {
    super('idempotency key already used');
  }
}

/** The message cannot be handled now but may be later: leave it to the queue to deliver again. */
export class RetryLaterError extends ServiceError {
  override readonly name = 'RetryLaterError';
  readonly retryable = true;
}

/** A setting is missing, malformed or contradicts another; the message names the variables, never a secret's value. */
export class ConfigError extends ServiceError {
  override readonly name = 'ConfigError';
  readonly retryable = false;
}
