/**
 * Reads the exchanges recorded against a real Nova and Keystone (test/fixtures/nova-reference,
 * copied from the team's shared nova-reference): each file is the request as sent and the raw
 * response. Used by the simulator's replay tests and the API's schema tests alike.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../fixtures/nova-reference/', import.meta.url));

export interface RecordedMessage {
  /** `POST /v2.1/...` for a request, `202` for a response. */
  startLine: string;
  headers: [string, string][];
  body: string;
}

export interface Recording {
  name: string;
  request: RecordedMessage & { method: string; path: string };
  response: RecordedMessage & { status: number };
}

function headerValue(headers: [string, string][], name: string): string | undefined {
  return headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

/** Splits "start line, headers, blank line, body" ending before the next `### ` line. */
function parseMessage(lines: string[]): RecordedMessage {
  const [startLine = '', ...rest] = lines;
  const headers: [string, string][] = [];
  let i = 0;
  for (; i < rest.length && rest[i] !== ''; i++) {
    const line = rest[i] ?? '';
    const colon = line.indexOf(':');
    headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  const raw = rest.slice(i + 1).join('\n');
  const length = headerValue(headers, 'Content-Length');
  // Content-Length keeps trailing spaces and newlines that are part of the body (03s, Keystone's "\n").
  const body = length !== undefined ? Buffer.from(raw, 'utf8').subarray(0, Number(length)).toString('utf8') : raw.trimEnd();
  return { startLine, headers, body };
}

function section(lines: string[], marker: RegExp): string[] {
  const start = lines.findIndex((l) => marker.test(l));
  if (start < 0) throw new Error(`no section ${marker}`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => l.startsWith('### '));
  return end < 0 ? rest : rest.slice(0, end);
}

/** Loads `responses/<name>.txt` or `responses-keystone/<name>.txt` (name without .txt). */
export function loadRecording(folder: 'responses' | 'responses-keystone', name: string): Recording {
  const text = readFileSync(join(FIXTURES, folder, `${name}.txt`), 'utf8');
  const lines = text.split('\n');
  const request = parseMessage(section(lines, /^### REQUEST/));
  const response = parseMessage(section(lines, /^### RESPONSE/));
  const [method = '', path = ''] = request.startLine.split(' ');
  const status = Number(response.startLine.split(' ')[1]);
  return { name, request: { ...request, method, path }, response: { ...response, status } };
}

export function recordingNames(folder: 'responses' | 'responses-keystone'): string[] {
  return readdirSync(join(FIXTURES, folder))
    .filter((f) => f.endsWith('.txt'))
    .map((f) => f.slice(0, -4));
}

export { headerValue };

/**
 * Every single-exchange recording in a folder, by name. Transcripts of several exchanges (the
 * task_state sequences of 01c–01e, the concurrent pairs of 02b) have another layout and are left
 * to the tests written for them.
 */
export function loadRecordings(folder: 'responses' | 'responses-keystone' = 'responses'): Recording[] {
  return recordingNames(folder)
    .sort()
    .flatMap((name) => {
      try {
        const rec = loadRecording(folder, name);
        return Number.isNaN(rec.response.status) ? [] : [rec];
      } catch {
        return [];
      }
    });
}
