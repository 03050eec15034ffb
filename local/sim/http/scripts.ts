/**
 * Answers a client's tests script in place of the simulator's own, and a tap on what it was sent.
 *
 * The simulator answers as Nova, Keystone and Glance do; a client's tests also need what no cloud
 * does on demand: a connection dropped after the request was read, an answer that never comes or
 * stops mid-body, a body too large to buffer, a Keystone catalog from another cloud's layout. A
 * script answers those, on this same listener, so the client has one fake cloud to be tested
 * against. A tap hands a test each request as sent (headers, token and body): the simulator keeps
 * none of it (its request log holds no body and no token).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** A reply written as given; `stallAfterBytes` sends the headers and that much of the body, then nothing. */
export interface ScriptedReply {
  status: number;
  statusText?: string;
  headers?: Array<[string, string]>;
  body?: string;
  stallAfterBytes?: number;
}

/**
 * What a script does with a request it matches: reply, never answer (`hang`), close the connection
 * (`destroy`), reset it (`reset`), or let the simulator answer (`simulate`).
 */
export type Scripted = ScriptedReply | 'hang' | 'destroy' | 'reset' | 'simulate';

/** A request as the client sent it. */
export interface TappedRequest {
  method: string;
  /** Path and query string as received. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** `index` counts the requests this script has matched before, from 0. */
export type Script = (request: TappedRequest, index: number) => Scripted | Promise<Scripted>;

interface Route {
  method: string;
  path: string | RegExp;
  script: Script;
  seen: number;
}

const matches = (path: string | RegExp, actual: string): boolean => (typeof path === 'string' ? actual === path : path.test(actual));

export class Scripts {
  private readonly routes: Route[] = [];
  private readonly taps = new Set<(request: TappedRequest) => void>();

  /** Scripts `method` on `path` (the path with its query; a RegExp tests it); a later script wins. */
  on(method: string, path: string | RegExp, answer: Script | Scripted): void {
    this.routes.push({ method, path, script: typeof answer === 'function' ? answer : () => answer, seen: 0 });
  }

  /** Calls `listener` with every request (admin calls aside) until the returned function is called. */
  tap(listener: (request: TappedRequest) => void): () => void {
    this.taps.add(listener);
    return () => this.taps.delete(listener);
  }

  clear(): void {
    this.routes.length = 0;
    this.taps.clear();
  }

  /** Tells the taps, then what the newest matching script does; undefined when none matches. */
  async answer(request: TappedRequest): Promise<Scripted | undefined> {
    for (const listener of this.taps) listener(request);
    const route = this.routes.findLast((r) => r.method === request.method && matches(r.path, request.path));
    return route?.script(request, route.seen++);
  }
}
