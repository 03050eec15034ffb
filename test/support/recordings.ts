/**
 * Reads the exchanges recorded against a real Nova (test/fixtures/nova-reference, copied from
 * the team's shared nova-reference): each file is a request as sent and the raw response.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Recording {
  name: string;
  request: { method: string; path: string; headers: Record<string, string>; body: string };
  response: { status: number; headers: Record<string, string>; body: string };
}

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'nova-reference');

function parseMessage(text: string): { startLine: string; headers: Record<string, string>; body: string } {
  const [head = '', ...rest] = text.replace(/^\n/, '').split('\n\n');
  const [startLine = '', ...headerLines] = head.split('\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { startLine, headers, body: rest.join('\n\n').replace(/\n+$/, '') };
}

/** Parses one recording file. */
export function parseRecording(name: string, text: string): Recording {
  const reqStart = text.indexOf('### REQUEST\n');
  const resStart = text.indexOf('### RESPONSE\n');
  const req = parseMessage(text.slice(reqStart + '### REQUEST\n'.length, resStart));
  const res = parseMessage(text.slice(resStart + '### RESPONSE\n'.length));
  const [method = '', path = ''] = req.startLine.split(' ');
  return {
    name,
    request: { method, path, headers: req.headers, body: req.body },
    response: { status: Number(res.startLine.split(' ')[1]), headers: res.headers, body: res.body },
  };
}

/** Every recording in a folder (`responses` for Nova, `responses-keystone` for Keystone + Nova). */
export function loadRecordings(folder: 'responses' | 'responses-keystone' = 'responses'): Recording[] {
  const dir = join(ROOT, folder);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => parseRecording(f.replace(/\.txt$/, ''), readFileSync(join(dir, f), 'utf8')));
}
