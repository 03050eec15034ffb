/**
 * GET /servers and /servers/detail query parameters as Nova 26 validates them
 * (schemas/servers.py query_params_v21 … v275 and validation.query_schema): every parameter is a
 * list of strings (webob's dict_of_lists), checked in the schema's key order, the first failure a
 * 400 "Invalid input for query parameters <name>. Value: <v>. <why>" (11e, 12e, 13i). Unknown
 * parameters are then stripped — they vanish from the next link too (13g) — except from 2.75,
 * where they are a 400; `changes-before` before 2.66, `tags*` before 2.26 and `locked` before 2.73
 * are unknown parameters (11g).
 */
import { isPythonRegex } from '../pyregex.js';
import { parseIsoTime } from '../iso8601.js';
import { pyPattern, SchemaValidator, type Schema } from '../jsonschema.js';
import type { JsonObject } from '../python.js';
import { badRequest } from './errors.js';
import type { Microversion } from './microversion.js';

const validator = new SchemaValidator({
  regex: (v) => (isPythonRegex(v) ? { valid: true } : { valid: false }),
  'date-time': (v) => (typeof v !== 'string' || parseIsoTime(v) !== null ? { valid: true } : { valid: false }),
});

const multi = (items: Schema): Schema => ({ type: 'array', items });
const common = multi({ type: 'string' });
const regex = multi({ type: 'string', format: 'regex' });
const dateTime = multi({ type: 'string', format: 'date-time' });
const nonNegativeInteger: Schema = { type: ['integer', 'string'], pattern: pyPattern('^[0-9]*$'), minimum: 0, minLength: 1 };

/** Sort keys Nova ignores rather than refuse before 2.75 (SERVER_LIST_IGNORE_SORT_KEY). */
export const IGNORED_SORT_KEYS = [
  'architecture', 'cell_name', 'cleaned', 'default_ephemeral_device', 'default_swap_device', 'deleted', 'deleted_at',
  'disable_terminate', 'ephemeral_gb', 'ephemeral_key_uuid', 'id', 'key_data', 'launched_on', 'locked', 'memory_mb',
  'os_type', 'reservation_id', 'root_gb', 'shutdown_terminate', 'user_data', 'vcpus', 'vm_mode',
];
const SORT_KEYS = [
  'access_ip_v4', 'access_ip_v6', 'auto_disk_config', 'availability_zone', 'config_drive', 'created_at',
  'display_description', 'display_name', 'host', 'hostname', 'image_ref', 'instance_type_id', 'kernel_id', 'key_name',
  'launch_index', 'launched_at', 'locked_by', 'node', 'power_state', 'progress', 'project_id', 'ramdisk_id',
  'root_device_name', 'task_state', 'terminated_at', 'updated_at', 'user_id', 'uuid', 'vm_state',
];
// From 2.73 Nova builds these enums from Python sets, whose order varies by process; sorted here.
const SORT_KEYS_V273 = ['locked', ...SORT_KEYS, ...IGNORED_SORT_KEYS.filter((k) => k !== 'locked')];
const SORT_KEYS_V275 = ['locked', ...SORT_KEYS];

/** The filter parameters of query_params_v21, in Nova's order (the order errors are found in). */
function v21Properties(): Record<string, Schema> {
  return {
    user_id: common,
    project_id: common,
    tenant_id: common,
    launch_index: common,
    image_ref: common,
    image: common,
    kernel_id: regex,
    ramdisk_id: regex,
    hostname: regex,
    key_name: regex,
    power_state: regex,
    vm_state: common,
    task_state: common,
    host: common,
    node: regex,
    flavor: regex,
    reservation_id: regex,
    launched_at: regex,
    terminated_at: regex,
    availability_zone: regex,
    name: regex,
    display_name: regex,
    description: regex,
    display_description: regex,
    locked_by: regex,
    uuid: common,
    root_device_name: regex,
    config_drive: regex,
    access_ip_v4: regex,
    access_ip_v6: regex,
    auto_disk_config: regex,
    progress: regex,
    sort_key: multi({ type: 'string', enum: [...SORT_KEYS, ...IGNORED_SORT_KEYS] }),
    sort_dir: common,
    all_tenants: common,
    soft_deleted: common,
    deleted: common,
    status: common,
    'changes-since': dateTime,
    ip: regex,
    ip6: regex,
    created_at: regex,
    // JOINED_TABLE_QUERY_PARAMS_SERVERS: kept so that the API can refuse them (400).
    block_device_mapping: common,
    services: common,
    metadata: common,
    system_metadata: common,
    info_cache: common,
    security_groups: common,
    pci_devices: common,
    limit: multi(nonNegativeInteger),
    marker: common,
  };
}

/** The parameters that name a joined table: a 400 "Invalid filter field" for whoever may filter on them. */
export const JOINED_TABLE_PARAMS = ['block_device_mapping', 'services', 'metadata', 'system_metadata', 'info_cache', 'security_groups', 'pci_devices'];

const schemas = new Map<string, Schema>();

/** The query schema Nova applies at `mv` (the same for index and detail). */
export function listQuerySchema(mv: Microversion): Schema {
  const tier = mv.atLeast('2.75') ? '2.75' : mv.atLeast('2.73') ? '2.73' : mv.atLeast('2.66') ? '2.66' : mv.atLeast('2.26') ? '2.26' : '2.1';
  const cached = schemas.get(tier);
  if (cached) return cached;
  const properties = v21Properties();
  if (tier !== '2.1') Object.assign(properties, { tags: regex, 'tags-any': regex, 'not-tags': regex, 'not-tags-any': regex });
  if (tier === '2.66' || tier === '2.73' || tier === '2.75') properties['changes-before'] = dateTime;
  if (tier === '2.73' || tier === '2.75') {
    // dict.update keeps sort_key where it was; locked comes last.
    properties.sort_key = multi({ type: 'string', enum: tier === '2.75' ? SORT_KEYS_V275 : SORT_KEYS_V273 });
    properties.locked = common;
  }
  const schema: Schema = { type: 'object', properties };
  if (tier === '2.75') schema.additionalProperties = false;
  schema.patternProperties = { '^_': common };
  schemas.set(tier, schema);
  return schema;
}

/** The query string as webob's dict_of_lists: each name once, in order of first appearance. */
export function queryDict(query: URLSearchParams): JsonObject {
  const dict: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of query) (dict[k] ??= []).push(v);
  return dict;
}

/**
 * Validates the query and strips unknown parameters (validation._strip_additional_query_parameters),
 * returning the query Nova goes on with: the pairs in their order.
 */
export function validateListQuery(query: URLSearchParams, mv: Microversion): [string, string][] {
  const schema = listQuerySchema(mv);
  const error = validator.firstError(queryDict(query), schema);
  if (error) {
    const [name] = error.path;
    if (name === undefined) throw badRequest(error.message);
    const value = typeof error.instance === 'string' ? error.instance : JSON.stringify(error.instance);
    throw badRequest(`Invalid input for query parameters ${name}. Value: ${value}. ${error.message}`);
  }
  const known = schema.properties ?? {};
  return [...query].filter(([k]) => Object.hasOwn(known, k) || k.startsWith('_'));
}
