/** Reading a request body the way Nova's wsgi layer does (jsonutils.loads, action_peek). */
import { isJsonObject, type JsonObject, type JsonValue } from '../python.js';
import { malformedBody, NovaFault, badRequest } from './errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** JSON, or undefined when it does not decode (invalid UTF-8 is a ValueError in Python too). */
export function parseJson(body: Buffer): JsonValue | undefined {
  try {
    return JSON.parse(utf8.decode(body)) as JsonValue;
  } catch {
    return undefined;
  }
}

/** The server actions the simulator implements; any other is "There is no such action" (03v). */
export const SERVER_ACTIONS = [
  'rebuild',
  'lock',
  'unlock',
  'pause',
  'unpause',
  'suspend',
  'resume',
  'os-stop',
  'os-start',
  'shelve',
  'unshelve',
  'rescue',
  'unrescue',
  'os-resetState',
] as const;
export type ServerAction = (typeof SERVER_ACTIONS)[number];

function isServerAction(name: string): name is ServerAction {
  return (SERVER_ACTIONS as readonly string[]).includes(name);
}

/** A server action body whose single key names a known action. */
export interface PeekedAction {
  action: ServerAction;
  body: JsonObject;
}

/**
 * wsgi.action_peek then the controller's action table: an unparsable or empty body, or one with
 * more than one key, is "Malformed request body" (03s, 03u); a non-object of length 1 has no keys
 * (Python's AttributeError → a plain 404); an unknown key is "There is no such action" (03v).
 */
export function peekAction(body: Buffer): PeekedAction | NovaFault {
  const decoded = parseJson(body);
  if (decoded === undefined) return malformedBody();
  if (decoded === null || typeof decoded === 'number' || typeof decoded === 'boolean') {
    return new NovaFault(404, 'The resource could not be found.');
  }
  const size = isJsonObject(decoded) ? Object.keys(decoded).length : decoded.length;
  if (size !== 1) return malformedBody();
  if (!isJsonObject(decoded)) return new NovaFault(404, 'The resource could not be found.');
  const name = Object.keys(decoded)[0] ?? '';
  if (!isServerAction(name)) return badRequest(`There is no such action: ${name}`);
  return { action: name, body: decoded };
}
