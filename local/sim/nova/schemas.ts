/**
 * Nova 26's request schemas (nova/api/openstack/compute/schemas/servers.py and
 * nova/api/validation/parameter_types.py), keys in Nova's order because the first failing keyword
 * decides the message. The rebuild body per microversion is the README's table.
 */
import { checkNovaName, descriptionPattern, isPythonBase64, isPythonIPv4, isPythonIPv6, isUuidLike } from '../formats.js';
import { pyPattern, SchemaValidator, type FormatChecker, type Schema, type SchemaError } from '../jsonschema.js';
import { pyStr } from '../python.js';
import type { Microversion } from './microversion.js';

const valid = { valid: true } as const;
const invalid = { valid: false } as const;

/** Nova's FormatChecker: its own checkers plus jsonschema's ipv4/ipv6. */
const NOVA_FORMATS: Record<string, FormatChecker> = {
  uuid: (v) => (isUuidLike(v) ? valid : invalid),
  base64: (v) => (isPythonBase64(v) ? valid : invalid),
  ipv4: (v) => (isPythonIPv4(v) ? valid : invalid),
  ipv6: (v) => (isPythonIPv6(v) ? valid : invalid),
  name: (v) => {
    const reason = checkNovaName(v);
    return reason === null ? valid : { valid: false, cause: `An invalid 'name' value was provided. The name must be: ${reason}` };
  },
};

const validator = new SchemaValidator(NOVA_FORMATS);

const name: Schema = { type: 'string', minLength: 1, maxLength: 255, format: 'name' };
const imageId: Schema = { type: 'string', format: 'uuid' };
const adminPassword: Schema = { type: 'string' };
const metadata: Schema = {
  type: 'object',
  patternProperties: { '^[a-zA-Z0-9-_:. ]{1,255}$': { type: 'string', maxLength: 255 } },
  additionalProperties: false,
};
const boolean: Schema = {
  type: ['boolean', 'string'],
  enum: [true, 'True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes',
    false, 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'],
};
const diskConfig: Schema = { type: 'string', enum: ['AUTO', 'MANUAL'] };
const accessIPv4: Schema = { type: 'string', format: 'ipv4' };
const accessIPv6: Schema = { type: 'string', format: 'ipv6' };
const personality: Schema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { path: { type: 'string' }, contents: { type: 'string', format: 'base64' } },
    additionalProperties: false,
  },
};
const description: Schema = { type: ['string', 'null'], minLength: 0, maxLength: 255, pattern: descriptionPattern };
const nameOrNone: Schema = { oneOf: [{ type: 'string', minLength: 1, maxLength: 255 }, { type: 'null' }] };
const userData: Schema = { oneOf: [{ type: 'string', format: 'base64', maxLength: 65535 }, { type: 'null' }] };
const trustedCerts: Schema = {
  type: ['array', 'null'],
  minItems: 1,
  maxItems: 50,
  uniqueItems: true,
  items: { type: 'string', minLength: 1 },
};
const hostname: Schema = {
  type: 'string',
  minLength: 2,
  maxLength: 63,
  pattern: pyPattern('^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$'),
};

function actionSchema(action: string, properties: Record<string, Schema>, required: string[]): Schema {
  return {
    type: 'object',
    properties: { [action]: { type: 'object', properties, required, additionalProperties: false } },
    required: [action],
    additionalProperties: false,
  };
}

/** The `rebuild` schema Nova applies at `mv` (base_rebuild … base_rebuild_v290). */
export function rebuildSchema(mv: Microversion): Schema {
  const props: Record<string, Schema> = {
    name,
    imageRef: imageId,
    adminPass: adminPassword,
    metadata,
    preserve_ephemeral: boolean,
    'OS-DCF:diskConfig': diskConfig,
    accessIPv4,
    accessIPv6,
    personality,
  };
  if (mv.atLeast('2.19')) props.description = description;
  if (mv.atLeast('2.54')) props.key_name = nameOrNone;
  if (mv.atLeast('2.57')) {
    delete props.personality;
    props.user_data = userData;
  }
  if (mv.atLeast('2.63')) props.trusted_image_certificates = trustedCerts;
  if (mv.atLeast('2.90')) props.hostname = hostname;
  return actionSchema('rebuild', props, ['imageRef']);
}

/** A trimmed `server` create schema (base_create …): the fields a test needs to set a scene. */
export function createSchema(mv: Microversion): Schema {
  const props: Record<string, Schema> = {
    name,
    imageRef: { oneOf: [{ type: 'string', format: 'uuid' }, { type: 'string', maxLength: 0 }] },
    flavorRef: { type: ['string', 'integer'], minLength: 1 },
    adminPass: adminPassword,
    metadata,
    networks: {},
    'OS-DCF:diskConfig': diskConfig,
    accessIPv4,
    accessIPv6,
    personality,
    key_name: name,
    user_data: { type: 'string', format: 'base64', maxLength: 65535 },
  };
  if (mv.atLeast('2.19')) props.description = description;
  if (mv.atLeast('2.57')) delete props.personality;
  const required = mv.atLeast('2.37') ? ['name', 'flavorRef', 'networks'] : ['name', 'flavorRef'];
  return {
    type: 'object',
    properties: {
      server: { type: 'object', properties: props, required, additionalProperties: false },
      'os:scheduler_hints': { type: 'object' },
      'OS-SCH-HNT:scheduler_hints': { type: 'object' },
    },
    required: ['server'],
    additionalProperties: false,
  };
}

/** The 2.73 lock body: an optional reason. */
export const lockSchemaV273: Schema = {
  type: 'object',
  properties: {
    lock: {
      type: ['object', 'null'],
      properties: { locked_reason: { type: 'string', minLength: 1, maxLength: 255 } },
      additionalProperties: false,
    },
  },
  required: ['lock'],
  additionalProperties: false,
};

/** os-resetState (admin): the state to force. */
export const resetStateSchema: Schema = actionSchema(
  'os-resetState',
  { state: { type: 'string', enum: ['active', 'error'] } },
  ['state'],
);

/**
 * The 400 message Nova's validator builds from the first error (nova/api/validation/validators.py):
 * a format checker's own message (InvalidName), else "Invalid input for field/attribute <last path
 * element>. Value: <str(value)>. <jsonschema message>", else the bare message.
 */
export function validationMessage(error: SchemaError): string {
  if (error.cause !== undefined) return error.cause;
  const last = error.path[error.path.length - 1];
  if (last === undefined) return error.message;
  return `Invalid input for field/attribute ${last}. Value: ${pyStr(error.instance)}. ${error.message}`;
}

/** Validates `body` against `schema`; the Nova 400 message, or null when valid. */
export function validateBody(body: Parameters<SchemaValidator['firstError']>[0], schema: Schema): string | null {
  const error = validator.firstError(body, schema);
  return error === null ? null : validationMessage(error);
}
