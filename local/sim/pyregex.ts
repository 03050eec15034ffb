/**
 * Python regular expressions in JavaScript. Nova's query schema accepts a `name` (and the other
 * regex filters) only if Python's `re.compile` does ("'(' is not a 'regex'", 13i), and the database
 * then searches the column with it (13a). `translatePythonRegex` rewrites the Python-only syntax
 * (`(?P<n>…)`, `(?P=n)`, `\A`, `\Z`, `(?#…)`, leading inline flags, a `]` first in a class) and
 * refuses what Python 3.11 refuses and JavaScript would let through (unknown letter escapes,
 * references to groups that do not exist or are still open, global flags after the start); the
 * rest — unbalanced parentheses, nothing to repeat, bad ranges — both engines refuse alike.
 * Known gaps, all rare in a name filter: variable-width look-behind (Python refuses it), possessive
 * quantifiers (Python 3.11 takes them, this refuses them), atomic groups (read as plain ones),
 * scoped flags (dropped), `\N{name}` (never matches).
 */

/** Letters Python accepts after a backslash outside a character class (sre_parse ESCAPES + CATEGORIES). */
const ESCAPES_OUTSIDE = new Set('abfnrtvdDsSwWAZbBxuUN'.split(''));
/** And inside one (no anchors there). */
const ESCAPES_INSIDE = new Set('abfnrtvdDsSwWxuUN'.split(''));
const FLAG_LETTERS = new Set('aiLmsux'.split(''));

export interface TranslatedRegex {
  source: string;
  flags: string;
}

function hexRun(s: string, from: number, n: number): string | null {
  const run = s.slice(from, from + n);
  return run.length === n && /^[0-9a-fA-F]+$/.test(run) ? run : null;
}

/** Strips the verbose-mode whitespace and comments outside classes ((?x)). */
function unverbose(s: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\') {
      out += s.slice(i, i + 2);
      i++;
    } else if (inClass) {
      out += c;
      if (c === ']') inClass = false;
    } else if (c === '[') {
      out += c;
      inClass = true;
    } else if (c === '#') {
      while (i < s.length && s[i] !== '\n') i++;
    } else if (!/\s/.test(c)) out += c;
  }
  return out;
}

/** The JavaScript equivalent of a Python pattern, or null where Python's re.compile raises. */
export function translatePythonRegex(pattern: string): TranslatedRegex | null {
  let s = pattern;
  const flags = new Set<string>();
  // Global flags are allowed only at the very start (an error elsewhere since Python 3.11).
  for (;;) {
    const m = /^\(\?([aiLmsux]+)\)/.exec(s);
    if (!m) break;
    for (const f of m[1] ?? '') flags.add(f);
    s = s.slice(m[0].length);
  }
  if (flags.has('x')) s = unverbose(s);
  let out = '';
  let inClass = false;
  let groups = 0;
  const open: number[] = [];
  const named = new Map<string, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\') {
      const n = s[i + 1];
      if (n === undefined) return null; // bad escape (end of pattern)
      if (/[A-Za-z]/.test(n)) {
        if (!(inClass ? ESCAPES_INSIDE : ESCAPES_OUTSIDE).has(n)) return null;
        if (n === 'x') {
          if (!hexRun(s, i + 2, 2)) return null;
        } else if (n === 'u' || n === 'U') {
          const run = hexRun(s, i + 2, n === 'u' ? 4 : 8);
          if (!run) return null;
          const code = Number.parseInt(run, 16);
          if (code > 0x10ffff) return null;
          const ch = String.fromCodePoint(code);
          out += /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
          i += 1 + run.length;
          continue;
        } else if (n === 'N') {
          const m = /^\{[^}]+\}/.exec(s.slice(i + 2));
          if (!m) return null;
          out += '(?!)';
          i += 1 + m[0].length;
          continue;
        }
        if (!inClass && n === 'A') out += '(?<![\\s\\S])';
        else if (!inClass && n === 'Z') out += '(?![\\s\\S])';
        else if (n === 'a') out += '\\x07';
        else out += `\\${n}`;
        i++;
      } else if (/[1-9]/.test(n) && !inClass) {
        const ref = /^[0-9]{1,2}/.exec(s.slice(i + 1))?.[0] ?? n;
        const number = Number(ref);
        if (number > groups || open.includes(number)) return null; // invalid group reference
        out += `\\${ref}`;
        i += ref.length;
      } else {
        out += `\\${n}`;
        i++;
      }
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      // A `]` right after `[` or `[^` is a literal in Python; JavaScript would close an empty class.
      inClass = true;
      out += '[';
      if (s[i + 1] === '^') {
        out += '^';
        i++;
      }
      if (s[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(') {
      if (s[i + 1] !== '?') {
        groups++;
        open.push(groups);
        out += '(';
        continue;
      }
      const rest = s.slice(i + 2);
      const name = /^P<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
      if (name) {
        groups++;
        open.push(groups);
        if (named.has(name[1] ?? '')) return null;
        named.set(name[1] ?? '', groups);
        out += `(?<${name[1]}>`;
        i += 1 + name[0].length;
        continue;
      }
      const back = /^P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest);
      if (back) {
        const number = named.get(back[1] ?? '');
        if (number === undefined || open.includes(number)) return null;
        out += `\\k<${back[1]}>`;
        i += 1 + back[0].length;
        continue;
      }
      if (rest.startsWith('#')) {
        const end = s.indexOf(')', i);
        if (end < 0) return null;
        i = end;
        continue;
      }
      if (/^[:=!]/.test(rest) || /^<[=!]/.test(rest)) {
        open.push(0);
        const head = rest.startsWith('<') ? 3 : 2;
        out += s.slice(i, i + 1 + head);
        i += head;
        continue;
      }
      if (rest.startsWith('>')) {
        open.push(0);
        out += '(?:';
        i += 2;
        continue;
      }
      const scoped = /^([aiLmsux]*)(?:-([imsx]+))?:/.exec(rest);
      if (scoped && (scoped[1] !== '' || scoped[2] !== undefined) && [...(scoped[1] ?? '')].every((f) => FLAG_LETTERS.has(f))) {
        open.push(0);
        out += '(?:';
        i += 1 + scoped[0].length;
        continue;
      }
      return null; // global flags not at the start, unknown extension, conditional groups
    }
    if (c === ')') {
      if (open.length === 0) return null;
      open.pop();
      out += ')';
      continue;
    }
    out += c === '/' ? '\\/' : c;
  }
  if (inClass || open.length > 0) return null;
  let jsFlags = '';
  if (flags.has('i')) jsFlags += 'i';
  if (flags.has('m')) jsFlags += 'm';
  if (flags.has('s')) jsFlags += 's';
  return { source: out, flags: jsFlags };
}

/** Nova's 'regex' format check: a non-empty string Python compiles (validators._validate_regex_format). */
export function isPythonRegex(value: unknown): boolean {
  if (typeof value !== 'string' || value === '') return false;
  const translated = translatePythonRegex(value);
  if (!translated) return false;
  try {
    new RegExp(translated.source, translated.flags);
    return true;
  } catch {
    return false;
  }
}

/**
 * A search with a Python pattern, as `re.search` would find it (a `$` also matches before a final
 * newline); `extraFlags` adds JavaScript flags (the database's case-insensitive collation: "i").
 * Null when the pattern does not compile.
 */
export function pythonSearcher(pattern: string, extraFlags = ''): ((s: string) => boolean) | null {
  const translated = translatePythonRegex(pattern);
  if (!translated) return null;
  let regex: RegExp;
  try {
    regex = new RegExp(translated.source, [...new Set(translated.flags + extraFlags)].join(''));
  } catch {
    return null;
  }
  return (s) => regex.test(s) || (s.endsWith('\n') && regex.test(s.slice(0, -1)));
}
