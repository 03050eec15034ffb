/** Nova's vm_state, task_state and power_state vocabularies and the status a client sees (common.py). */

export type VmState =
  | 'active'
  | 'building'
  | 'stopped'
  | 'paused'
  | 'suspended'
  | 'shelved'
  | 'shelved_offloaded'
  | 'rescued'
  | 'error'
  /** Set by a delete, together with the record's deletedAt (Nova's soft delete, 11h). */
  | 'deleted';

/** nova.compute.task_states; a test may force any of them to hold a server busy (→ 409 on rebuild). */
export const TASK_STATES = [
  'scheduling',
  'networking',
  'block_device_mapping',
  'spawning',
  'rebuilding',
  'rebuild_block_device_mapping',
  'rebuild_spawning',
  'rebooting',
  'reboot_pending',
  'reboot_started',
  'rebooting_hard',
  'reboot_pending_hard',
  'reboot_started_hard',
  'updating_password',
  'image_snapshot',
  'image_snapshot_pending',
  'image_pending_upload',
  'image_uploading',
  'image_backup',
  'resize_prep',
  'resize_migrating',
  'resize_migrated',
  'resize_finish',
  'resize_reverting',
  'resize_confirming',
  'migrating',
  'pausing',
  'unpausing',
  'suspending',
  'resuming',
  'powering-off',
  'powering-on',
  'rescuing',
  'unrescuing',
  'shelving',
  'shelving_offloading',
  'unshelving',
  'deleting',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** nova.compute.power_state. */
export const PowerState = { NOSTATE: 0, RUNNING: 1, PAUSED: 3, SHUTDOWN: 4, SUSPENDED: 7 } as const;

const REBUILD_TASK_STATES: readonly TaskState[] = ['rebuilding', 'rebuild_block_device_mapping', 'rebuild_spawning'];

const STATUS: Record<VmState, string> = {
  active: 'ACTIVE',
  building: 'BUILD',
  stopped: 'SHUTOFF',
  paused: 'PAUSED',
  suspended: 'SUSPENDED',
  shelved: 'SHELVED',
  shelved_offloaded: 'SHELVED_OFFLOADED',
  rescued: 'RESCUE',
  error: 'ERROR',
  deleted: 'DELETED',
};

/** The statuses an ACTIVE server's task_state maps to (common.py _STATE_MAP). */
const ACTIVE_TASK_STATUS: Partial<Record<TaskState, string>> = {
  rebooting: 'REBOOT',
  reboot_pending: 'REBOOT',
  reboot_started: 'REBOOT',
  rebooting_hard: 'HARD_REBOOT',
  reboot_pending_hard: 'HARD_REBOOT',
  reboot_started_hard: 'HARD_REBOOT',
  updating_password: 'PASSWORD',
  migrating: 'MIGRATING',
  resize_prep: 'RESIZE',
  resize_migrating: 'RESIZE',
  resize_migrated: 'RESIZE',
  resize_finish: 'RESIZE',
};

/** nova/api/openstack/common.py status_from_state. */
export function statusOf(vmState: VmState, taskState: TaskState | null): string {
  if (taskState && REBUILD_TASK_STATES.includes(taskState) && ['active', 'stopped', 'error'].includes(vmState)) {
    return 'REBUILD';
  }
  if (taskState && vmState === 'active') return ACTIVE_TASK_STATUS[taskState] ?? STATUS.active;
  if (taskState && vmState === 'paused' && taskState === 'migrating') return 'MIGRATING';
  return STATUS[vmState];
}

/** common.py _STATE_MAP: vm_state → (task_state or "default") → status, for the status filter. */
const STATE_MAP: Record<string, Record<string, string>> = {
  active: {
    default: 'ACTIVE',
    rebooting: 'REBOOT',
    reboot_pending: 'REBOOT',
    reboot_started: 'REBOOT',
    rebooting_hard: 'HARD_REBOOT',
    reboot_pending_hard: 'HARD_REBOOT',
    reboot_started_hard: 'HARD_REBOOT',
    updating_password: 'PASSWORD',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
    migrating: 'MIGRATING',
    resize_prep: 'RESIZE',
    resize_migrating: 'RESIZE',
    resize_migrated: 'RESIZE',
    resize_finish: 'RESIZE',
  },
  building: { default: 'BUILD' },
  stopped: {
    default: 'SHUTOFF',
    resize_prep: 'RESIZE',
    resize_migrating: 'RESIZE',
    resize_migrated: 'RESIZE',
    resize_finish: 'RESIZE',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
  },
  resized: { default: 'VERIFY_RESIZE', resize_reverting: 'REVERT_RESIZE' },
  paused: { default: 'PAUSED', migrating: 'MIGRATING' },
  suspended: { default: 'SUSPENDED' },
  rescued: { default: 'RESCUE' },
  error: {
    default: 'ERROR',
    rebuilding: 'REBUILD',
    rebuild_block_device_mapping: 'REBUILD',
    rebuild_spawning: 'REBUILD',
  },
  deleted: { default: 'DELETED' },
  'soft-delete': { default: 'SOFT_DELETED' },
  shelved: { default: 'SHELVED' },
  shelved_offloaded: { default: 'SHELVED_OFFLOADED' },
};

/**
 * common.task_and_vm_state_from_status: the vm_states and task_states (sorted, "default" meaning
 * any) whose status is one of `statuses`, compared case-insensitively. Both empty for an unknown
 * status (13e).
 */
export function statesForStatuses(statuses: string[]): { vmStates: string[]; taskStates: string[] } {
  const wanted = new Set(statuses.map((s) => s.toLowerCase()));
  const vmStates = new Set<string>();
  const taskStates = new Set<string>();
  for (const [vmState, tasks] of Object.entries(STATE_MAP)) {
    for (const [taskState, status] of Object.entries(tasks)) {
      if (wanted.has(status.toLowerCase())) {
        vmStates.add(vmState);
        taskStates.add(taskState);
      }
    }
  }
  return { vmStates: [...vmStates].sort(), taskStates: [...taskStates].sort() };
}
