/**
 * What Nova's view of a server means for our rebuild of it: still at it, done on the new image
 * (SUCCEEDED, SHUTOFF kept), done on another image, ERROR with its fault, or gone. One reading for
 * the watcher's lists and a server's own look.
 */
import type { ServerView } from '../openstack/compute.js';
import type { CloudText } from './cloud-text.js';

export interface ServerEnd {
  status: 'SUCCEEDED' | 'FAILED';
  novaState: string;
  fault?: { name: string; message: string; status?: number };
}

function imageIdOf(server: ServerView): string | undefined {
  return typeof server.image === 'object' ? server.image?.id : undefined;
}

/** Nova's status/task_state, as the record keeps it. */
export function novaStateOf(server: ServerView): string {
  const task = server['OS-EXT-STS:task_state'] ?? null;
  return `${server.status}${task ? `/${task}` : ''}`;
}

/** Statuses of a server that is gone from the project (a changes-since list shows them: 11h). */
const GONE = ['DELETED', 'SOFT_DELETED'];

/**
 * The end a server has reached, if its task is over; undefined while a task runs. A task still
 * set means the rebuild is at work even when the status says ERROR (Nova may rebuild a server in
 * ERROR, and shows ERROR until the task ends).
 */
export function serverOutcome(server: ServerView, imageId: string, text: CloudText): ServerEnd | undefined {
  const novaState = novaStateOf(server);
  const task = server['OS-EXT-STS:task_state'] ?? null;
  if (GONE.includes(server.status)) {
    return { status: 'FAILED', novaState, fault: { name: 'deleted', message: `The server was deleted while it was rebuilt (Nova shows it ${server.status}).` } };
  }
  if (task) return undefined;
  if (server.status === 'ERROR') {
    const f = server.fault;
    return { status: 'FAILED', novaState, fault: { name: 'serverError', message: `The server went to ERROR${f?.message ? `: ${text.clean(f.message)}` : ''}`, ...(f?.code ? { status: f.code } : {}) } };
  }
  if (server.status === 'ACTIVE' || server.status === 'SHUTOFF') {
    const image = imageIdOf(server);
    if (image === imageId) return { status: 'SUCCEEDED', novaState };
    return { status: 'FAILED', novaState, fault: { name: 'wrongImage', message: `The rebuild ended with the server on image ${image ?? 'unknown'}, not ${imageId}.` } };
  }
  return undefined;
}
