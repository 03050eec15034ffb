/**
 * Errors the API turns into Nova fault bodies: `{"<faultName>": {"code": N, "message": "..."}}`.
 * Each subclass fixes its status code and fault name so a handler never has to choose them.
 */
export abstract class ApiError extends Error {
  abstract readonly statusCode: number;
  abstract readonly faultName: string;
  /** Extra response headers (e.g. `Allow` on a 405). */
  readonly headers: Record<string, string> = {};
  /** Extra members of the fault object (e.g. the list of invalid fields), beside code and message. */
  readonly extra: Record<string, unknown> = {};

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }

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
}

/** A job with this id does not exist (or belongs to someone else, which must look the same). */
export class JobNotFoundError extends NotFoundError {
  constructor(jobId: string) {
    super(`Rebuild job ${jobId} could not be found.`);
  }
}

/** The store could not take every record after its retries (throttling, outage). */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

/** The queue refused messages after its retries; `sent` tells which made it. */
export class QueueUnavailableError extends Error {
  override readonly name = 'QueueUnavailableError';
  constructor(
    message: string,
    readonly sentServerIds: ReadonlySet<string>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A conditional write lost: the record is not in the state the caller expected. */
export class ConditionFailedError extends Error {
  override readonly name = 'ConditionFailedError';
}

/** The message cannot be handled now but may be later: leave it to the queue to deliver again. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
}
