/**
 * What Nova's database does with a server list's filters, sort and page
 * (db/main/api.py instance_get_all_by_filters_sort behind compute/instance_list.py), on a MariaDB
 * whose columns compare case-insensitively and store whole seconds:
 * - changes-since / changes-before: updated_at >= / <= T (11a–11f); `deleted` true, false or absent
 *   (absent only with changes-since or -before, so a deleted server shows up there alone, 11h);
 * - tags (all of), tags-any, not-tags, not-tags-any (13f);
 * - exact matches on project_id, user_id, image_ref (13b), vm_state and task_state (the status
 *   filter, 13c/13d), instance_type_id, uuid, host, locked (13h); every other filter that names a
 *   column is a regular expression searched in it (REGEXP, `|` escaped as Nova does for MySQL:
 *   the name filter, 13a); a filter naming no column is ignored;
 * - the sort keys, then uuid ascending (the cell lister's tie-break; the default is created_at
 *   desc, 11g); a marker starts the page after that server's place in the order (12b), wherever
 *   the server is (another project, deleted).
 * The default order is walked from the store's presorted index, so a page costs what it skips and
 * returns; any other order sorts the matching servers once.
 */
import { pythonSearcher } from '../pyregex.js';
import { defaultOrder, type ServerStore } from './store.js';
import { settle, taskStateAt, updatedAt, type ServerRecord } from './servers.js';

type Cell = string | number | boolean | null;
type Kind = 'text' | 'int' | 'bool' | 'time';

interface Column {
  kind: Kind;
  read(s: ServerRecord, now: number): Cell;
}

const second = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000) * 1000);
const text = (read: (s: ServerRecord, now: number) => string | null): Column => ({ kind: 'text', read });
const int = (read: (s: ServerRecord) => number): Column => ({ kind: 'int', read });
const bool = (read: (s: ServerRecord) => boolean): Column => ({ kind: 'bool', read });
const time = (read: (s: ServerRecord, now: number) => number | null): Column => ({ kind: 'time', read: (s, now) => second(read(s, now)) });

/** The instances table's columns the simulator has values for. */
const COLUMNS: Record<string, Column> = {
  id: int((s) => s.instanceNumber),
  uuid: text((s) => s.id),
  display_name: text((s) => s.name),
  display_description: text((s) => s.description),
  project_id: text((s) => s.tenantId),
  user_id: text((s) => s.userId),
  image_ref: text((s) => s.imageId),
  instance_type_id: int((s) => Number(s.flavorId)),
  vm_state: text((s) => s.vmState),
  task_state: text((s, now) => taskStateAt(s, now)),
  power_state: int((s) => s.powerState),
  host: text((s) => s.host),
  node: text((s) => s.host),
  hostname: text((s) => s.hostname),
  key_name: text((s) => s.keyName),
  reservation_id: text((s) => s.reservationId),
  launch_index: int(() => 0),
  kernel_id: text(() => ''),
  ramdisk_id: text(() => ''),
  root_device_name: text(() => '/dev/sda'),
  config_drive: text(() => ''),
  availability_zone: text(() => 'nova'),
  access_ip_v4: text((s) => s.accessIPv4),
  access_ip_v6: text((s) => s.accessIPv6),
  auto_disk_config: bool((s) => s.diskConfig === 'AUTO'),
  progress: int(() => 0),
  locked: bool((s) => s.lockedBy !== null),
  locked_by: text((s) => s.lockedBy),
  created_at: time((s) => s.createdAt),
  updated_at: time((s, now) => updatedAt(s, now)),
  launched_at: time((s) => s.launchedAt),
  terminated_at: time((s) => s.terminatedAt),
};

/** db api exact_match_filter_names (the ones the simulator has columns for). */
const EXACT = new Set(['project_id', 'user_id', 'image_ref', 'vm_state', 'instance_type_id', 'uuid', 'host', 'task_state', 'locked']);

/** A filter value as compute API get_all passes it on. */
export type FilterValue = string | string[] | boolean | number;

export interface InstanceQuery {
  /** Nova's filters dict: special keys (changes-since, deleted, tags…), exact and regex filters. */
  filters: Map<string, FilterValue>;
  limit: number;
  marker: ServerRecord | null;
  sortKeys: string[];
  sortDirs: string[];
  now: number;
}

/** How MariaDB prints a cell for REGEXP: DATETIME as "YYYY-MM-DD HH:MM:SS", booleans as 0/1. */
function cellText(kind: Kind, cell: Cell): string | null {
  if (cell === null) return null;
  if (kind === 'time') return new Date(cell as number).toISOString().slice(0, 19).replace('T', ' ');
  if (kind === 'bool') return cell ? '1' : '0';
  return String(cell);
}

function equalsCell(kind: Kind, cell: Cell, value: FilterValue): boolean {
  if (cell === null) return false;
  if (typeof value === 'boolean') return (kind === 'bool' ? cell : Boolean(cell)) === value;
  if (kind === 'text') return String(cell).toLowerCase() === String(value).toLowerCase();
  return Number(cell) === Number(value);
}

type Predicate = (s: ServerRecord) => boolean;

function hasTag(s: ServerRecord, tag: string): boolean {
  const t = tag.toLowerCase();
  return s.tags.some((x) => x.toLowerCase() === t);
}

/** The filters as one predicate, or null when nothing can match (an empty IN, a broken regex). */
function compile(filters: Map<string, FilterValue>, now: number): Predicate | null {
  const checks: Predicate[] = [];
  const since = filters.get('changes-since');
  if (typeof since === 'number') checks.push((s) => (second(updatedAt(s, now)) ?? 0) >= since);
  const before = filters.get('changes-before');
  if (typeof before === 'number') checks.push((s) => (second(updatedAt(s, now)) ?? 0) <= before);
  const deleted = filters.get('deleted');
  if (deleted === true) checks.push((s) => s.deletedAt !== null);
  if (deleted === false) checks.push((s) => s.deletedAt === null);
  const list = (key: string): string[] | null => {
    const v = filters.get(key);
    return Array.isArray(v) ? v : null;
  };
  const tags = list('tags');
  if (tags) checks.push((s) => tags.every((t) => hasTag(s, t)));
  const tagsAny = list('tags-any');
  if (tagsAny) checks.push((s) => tagsAny.some((t) => hasTag(s, t)));
  const notTags = list('not-tags');
  if (notTags) checks.push((s) => !notTags.every((t) => hasTag(s, t)));
  const notTagsAny = list('not-tags-any');
  if (notTagsAny) checks.push((s) => !notTagsAny.some((t) => hasTag(s, t)));
  for (const [key, value] of filters) {
    const column = COLUMNS[key];
    if (!column) continue;
    if (EXACT.has(key)) {
      if (Array.isArray(value)) {
        if (value.length === 0) return null;
        checks.push((s) => value.some((v) => equalsCell(column.kind, column.read(s, now), v)));
      } else {
        checks.push((s) => equalsCell(column.kind, column.read(s, now), value));
      }
      continue;
    }
    // _regex_instance_filter: REGEXP on MySQL, with every "|" escaped (_safe_regex_mysql).
    const search = pythonSearcher(String(value).replaceAll('|', '\\|'), 'i');
    if (!search) return null;
    checks.push((s) => {
      const t = cellText(column.kind, column.read(s, now));
      return t !== null && search(t);
    });
  }
  return (s) => checks.every((check) => check(s));
}

function compareCells(kind: Kind, a: Cell, b: Cell): number {
  if (a === b) return 0;
  if (a === null) return -1; // MySQL sorts NULL first ascending
  if (b === null) return 1;
  if (kind === 'text') {
    const x = String(a).toLowerCase();
    const y = String(b).toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return Number(a) - Number(b);
}

/** True for the order of an unsorted list: created_at desc, then uuid asc (the store's index). */
function isDefaultOrder(keys: string[], dirs: string[]): boolean {
  return keys.length === 2 && keys[0] === 'created_at' && dirs[0] === 'desc' && keys[1] === 'uuid' && dirs[1] === 'asc';
}

/** One page of servers, as the database returns it. */
export function queryInstances(store: ServerStore, q: InstanceQuery): ServerRecord[] {
  if (q.limit === 0) return [];
  const match = compile(q.filters, q.now);
  if (!match) return [];
  const keep = (s: ServerRecord): boolean => {
    settle(s, q.now);
    return match(s);
  };
  if (isDefaultOrder(q.sortKeys, q.sortDirs)) {
    const all = store.inDefaultOrder();
    const page: ServerRecord[] = [];
    for (let i = q.marker ? store.positionAfter(q.marker) : 0; i < all.length && page.length < q.limit; i++) {
      const s = all[i] as ServerRecord;
      if (keep(s)) page.push(s);
    }
    return page;
  }
  const columns = q.sortKeys.map((k) => COLUMNS[k] ?? { kind: 'text' as const, read: () => null });
  const keyOf = (s: ServerRecord): Cell[] => columns.map((c) => c.read(s, q.now));
  const compare = (a: Cell[], b: Cell[]): number => {
    for (let i = 0; i < columns.length; i++) {
      const c = compareCells(columns[i]?.kind ?? 'text', a[i] ?? null, b[i] ?? null);
      if (c !== 0) return q.sortDirs[i] === 'desc' ? -c : c;
    }
    return 0;
  };
  // Candidates in the default order, so that equal keys still come out in a fixed order.
  const rows = store
    .inDefaultOrder()
    .filter(keep)
    .map((s) => ({ s, key: keyOf(s) }));
  rows.sort((a, b) => compare(a.key, b.key) || defaultOrder(a.s, b.s));
  let start = 0;
  if (q.marker) {
    settle(q.marker, q.now);
    const markerKey = keyOf(q.marker);
    while (start < rows.length && compare((rows[start] as { key: Cell[] }).key, markerKey) <= 0) start++;
  }
  return rows.slice(start, start + q.limit).map((r) => r.s);
}
