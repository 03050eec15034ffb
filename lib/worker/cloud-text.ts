/**
 * Text that came from the cloud (fault messages, a server's fault, error texts), made fit to be
 * stored, logged, counted or returned: the request's secrets taken out first, in every form Nova
 * may quote them, then put on one line and shortened. Shortening comes last: a cut made before the
 * scrub could leave part of a secret the scrubber no longer recognises.
 */
import { REDACTED, SecretScrubber, collapseWhitespace } from '../request/secrets.js';

/** How much of a cloud message a record keeps (Nova's own instance fault messages are at most 255). */
export const MAX_CLOUD_TEXT = 1000;

/** Cleans cloud text for one request. */
export class CloudText {
  /**
   * `scrubber` knows the request's secrets. Without one (the sweeper, which holds no message), text
   * that may quote them — a server's fault, a fault message — is withheld rather than shown.
   */
  constructor(private readonly scrubber: SecretScrubber | undefined) {}

  /** Scrubbed, on one line, at most MAX_CLOUD_TEXT characters. */
  clean(text: string): string {
    if (!this.scrubber) return `${REDACTED} (the cloud's text is not kept here: it may quote the request's secrets; see the server in the cloud)`;
    const one = collapseWhitespace(this.scrubber.scrub(text));
    if (one.length <= MAX_CLOUD_TEXT) return one;
    const points = Array.from(one);
    return points.length <= MAX_CLOUD_TEXT ? one : `${points.slice(0, MAX_CLOUD_TEXT).join('')}…`;
  }

  /** An error's message, cleaned. */
  error(err: unknown): string {
    return this.clean(err instanceof Error ? err.message : String(err));
  }
}
