/**
 * Nova's server view (nova/api/openstack/compute/views/servers.py), field for field and in the
 * same order, gated by microversion and role exactly as the recordings show: 01b (2.1, admin),
 * k05a (2.1, member), k03b (2.93, member), 01e/04g (rebuild 202 at 2.93), 04a (2.56), 04c (2.57).
 */
import { dbTime, isoTime } from '../timefmt.js';
import type { JsonObject, JsonValue } from '../python.js';
import { findFlavor } from './flavors.js';
import type { Microversion } from './microversion.js';
import { statusOf, taskStateAt, updatedAt, type InstanceActionRecord, type ServerRecord } from './servers.js';

/** Where links point: Nova builds them from the request's host and whether the URL named the project. */
export interface LinkBase {
  hostUrl: string;
  /** The project id when the request URL carried one; links then carry it too (03zb vs 01). */
  projectInUrl: string | null;
}

export interface ViewContext {
  mv: Microversion;
  isAdmin: boolean;
  links: LinkBase;
  now: number;
}

function projectSegment(links: LinkBase): string {
  return links.projectInUrl ? `/${links.projectInUrl}` : '';
}

/** `http://host/compute/v2.1[/project]/<path>`. */
export function selfLink(links: LinkBase, path: string): string {
  return `${links.hostUrl}/compute/v2.1${projectSegment(links)}/${path}`;
}

function bookmarkLink(links: LinkBase, path: string): string {
  return `${links.hostUrl}/compute${projectSegment(links)}/${path}`;
}

function serverLinks(links: LinkBase, id: string): JsonValue {
  return [
    { rel: 'self', href: selfLink(links, `servers/${id}`) },
    { rel: 'bookmark', href: bookmarkLink(links, `servers/${id}`) },
  ];
}

/** Which optional parts of the detailed view to include (the flags of ViewBuilder.show). */
export interface ShowFlags {
  showAZ: boolean;
  showConfigDrive: boolean;
  showKeypair: boolean;
  showSrvUsg: boolean;
  showExtendedAttr: boolean;
  showExtendedStatus: boolean;
  showExtendedVolumes: boolean;
  showHostStatus: boolean;
  showServerGroups: boolean;
  showUserData: boolean;
}

/** GET /servers/{id} and /servers/detail. */
export function getFlags(ctx: ViewContext): ShowFlags {
  return {
    showAZ: true,
    showConfigDrive: true,
    showKeypair: true,
    showSrvUsg: true,
    showExtendedAttr: ctx.isAdmin,
    showExtendedStatus: true,
    showExtendedVolumes: true,
    showHostStatus: ctx.isAdmin,
    showServerGroups: ctx.mv.atLeast('2.71'),
    showUserData: true,
  };
}

/** The rebuild 202: a short view before 2.75, the full one from 2.75 (without user_data, added apart). */
export function rebuildFlags(ctx: ViewContext): ShowFlags {
  const all = ctx.mv.atLeast('2.75');
  return {
    showAZ: all,
    showConfigDrive: all,
    showKeypair: all || ctx.mv.atLeast('2.54'),
    showSrvUsg: all,
    showExtendedAttr: all && ctx.isAdmin,
    showExtendedStatus: all,
    showExtendedVolumes: all,
    showHostStatus: all && ctx.isAdmin,
    showServerGroups: ctx.mv.atLeast('2.71'),
    showUserData: false,
  };
}

function flavorView(ctx: ViewContext, flavorId: string): JsonValue {
  const flavor = findFlavor(flavorId);
  if (ctx.mv.atLeast('2.47') && flavor) {
    return {
      vcpus: flavor.vcpus,
      ram: flavor.ram,
      disk: flavor.disk,
      ephemeral: 0,
      swap: 0,
      original_name: flavor.name,
      extra_specs: {},
    };
  }
  return { id: flavorId, links: [{ rel: 'bookmark', href: bookmarkLink(ctx.links, `flavors/${flavorId}`) }] };
}

const PROGRESS_STATUSES = ['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING'];

/** ViewBuilder.show. */
export function serverView(server: ServerRecord, ctx: ViewContext, flags: ShowFlags): JsonObject {
  const taskState = taskStateAt(server, ctx.now);
  // _get_vm_status: a deleted instance is DELETED whatever its states (11h).
  const status = server.deletedAt !== null ? 'DELETED' : statusOf(server.vmState, taskState);
  const view: JsonObject = {
    id: server.id,
    name: server.name,
    status,
    tenant_id: server.tenantId,
    user_id: server.userId,
    metadata: { ...server.metadata },
    hostId: server.hostId,
    image: {
      id: server.imageId,
      links: [{ rel: 'bookmark', href: bookmarkLink(ctx.links, `images/${server.imageId}`) }],
    },
    flavor: flavorView(ctx, server.flavorId),
    created: isoTime(server.createdAt),
    updated: isoTime(updatedAt(server, ctx.now)),
    addresses: {},
    accessIPv4: server.accessIPv4 ?? '',
    accessIPv6: server.accessIPv6 ?? '',
    links: serverLinks(ctx.links, server.id),
    'OS-DCF:diskConfig': server.diskConfig,
  };
  if (status === 'ERROR' && server.fault) {
    const fault: JsonObject = {
      code: server.fault.code,
      created: isoTime(server.fault.createdAt),
      message: server.fault.message,
    };
    if (ctx.isAdmin || server.fault.code !== 500) fault.details = server.fault.details;
    view.fault = fault;
  }
  if (PROGRESS_STATUSES.includes(status)) view.progress = 0;
  if (flags.showAZ) view['OS-EXT-AZ:availability_zone'] = 'nova';
  if (flags.showConfigDrive) view.config_drive = '';
  if (flags.showKeypair) view.key_name = server.keyName;
  if (flags.showSrvUsg) {
    view['OS-SRV-USG:launched_at'] = server.launchedAt === null ? null : dbTime(server.launchedAt);
    view['OS-SRV-USG:terminated_at'] = server.terminatedAt === null ? null : dbTime(server.terminatedAt);
  }
  if (flags.showExtendedAttr) {
    view['OS-EXT-SRV-ATTR:host'] = server.host;
    view['OS-EXT-SRV-ATTR:instance_name'] = `instance-${server.instanceNumber.toString(16).padStart(8, '0')}`;
    view['OS-EXT-SRV-ATTR:hypervisor_hostname'] = server.host;
    if (ctx.mv.atLeast('2.3')) {
      view['OS-EXT-SRV-ATTR:reservation_id'] = server.reservationId;
      view['OS-EXT-SRV-ATTR:launch_index'] = 0;
      view['OS-EXT-SRV-ATTR:hostname'] = server.hostname;
      view['OS-EXT-SRV-ATTR:kernel_id'] = '';
      view['OS-EXT-SRV-ATTR:ramdisk_id'] = '';
      view['OS-EXT-SRV-ATTR:root_device_name'] = '/dev/sda';
      // The simulator never keeps user_data (it may hold secrets), so it always reads back as null.
      if (flags.showUserData) view['OS-EXT-SRV-ATTR:user_data'] = null;
    }
  }
  if (flags.showExtendedStatus) {
    view['OS-EXT-STS:task_state'] = taskState;
    view['OS-EXT-STS:vm_state'] = server.vmState;
    view['OS-EXT-STS:power_state'] = server.powerState;
  }
  if (flags.showExtendedVolumes) view['os-extended-volumes:volumes_attached'] = [];
  if (ctx.mv.atLeast('2.16') && flags.showHostStatus) view.host_status = 'UP';
  if (ctx.mv.atLeast('2.9')) view.locked = server.lockedBy !== null;
  if (ctx.mv.atLeast('2.73')) view.locked_reason = server.lockedBy !== null ? server.lockedReason : null;
  if (ctx.mv.atLeast('2.19')) view.description = server.description;
  if (ctx.mv.atLeast('2.26')) view.tags = [...server.tags];
  if (ctx.mv.atLeast('2.63')) view.trusted_image_certificates = server.trustedCerts ? [...server.trustedCerts] : null;
  if (ctx.mv.atLeast('2.90') && !flags.showExtendedAttr) view['OS-EXT-SRV-ATTR:hostname'] = server.hostname;
  if (flags.showServerGroups) view.server_groups = [];
  return view;
}

/**
 * One server of GET /servers/detail (ViewBuilder.detail): show()'s fields without server_groups
 * (show_server_groups stays False there, 11d), and host_status, added for the whole list
 * afterwards, last (11d, 11f, 13h).
 */
export function serverListView(server: ServerRecord, ctx: ViewContext): JsonObject {
  const flags = getFlags(ctx);
  const view = serverView(server, ctx, { ...flags, showServerGroups: false, showHostStatus: false });
  if (ctx.mv.atLeast('2.16') && flags.showHostStatus) view.host_status = 'UP';
  return view;
}

/** ViewBuilder.basic: GET /servers. */
export function serverBasicView(server: ServerRecord, ctx: ViewContext): JsonObject {
  return { id: server.id, name: server.name, links: serverLinks(ctx.links, server.id) };
}

/** One os-instance-actions row (05a; 2.58 adds updated_at, 05c). */
export function instanceActionView(serverId: string, action: InstanceActionRecord, ctx: ViewContext): JsonObject {
  const view: JsonObject = {
    action: action.action,
    instance_uuid: serverId,
    request_id: action.requestId,
    user_id: action.userId,
    project_id: action.projectId,
    start_time: dbTime(action.startTime),
    message: action.message,
  };
  if (ctx.mv.atLeast('2.58')) view.updated_at = dbTime(action.updatedAt);
  return view;
}

/** GET .../os-instance-actions/{request_id}: the row plus its events (05b; 2.62 host/hostId, 2.84 details, 05d). */
export function instanceActionDetailView(
  server: ServerRecord,
  action: InstanceActionRecord,
  ctx: ViewContext,
): JsonObject {
  const view = instanceActionView(server.id, action, ctx);
  // Events are admin-only before 2.51; their traceback stays admin-only.
  if (ctx.isAdmin || ctx.mv.atLeast('2.51')) {
    view.events = action.events.map((e) => {
      const event: JsonObject = {
        event: e.event,
        start_time: dbTime(e.startTime),
        finish_time: e.finishTime === null ? null : dbTime(e.finishTime),
        result: e.result,
      };
      if (ctx.isAdmin) event.traceback = e.traceback;
      if (ctx.mv.atLeast('2.62')) {
        if (ctx.isAdmin) event.host = server.host;
        event.hostId = server.hostId;
      }
      if (ctx.mv.atLeast('2.84')) event.details = null;
      return event;
    });
  }
  return view;
}
