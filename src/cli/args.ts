/**
 * Hand-written argv parsing for the CLI (no dependencies): `--name value`, `--name=value`, boolean
 * flags (`--bidirectional`, `--no-shuffle`), positionals, and `--` to end the options. Every
 * problem is a `UsageError` (exit code 2) whose one-line message names the option.
 */

/** A mistake in how the CLI was called: exit code 2, one line on stderr. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type OptionType = 'string' | 'int' | 'number' | 'flag';

export interface OptionSpec {
  type: OptionType;
  /** Placeholder in the help text (`--epochs <n>`). */
  arg?: string;
  help: string;
  /** Shown as "(default ...)" in the help. */
  default?: string;
  /** Lower bound for numbers (inclusive unless `exclusiveMin`). */
  min?: number;
  exclusiveMin?: boolean;
  max?: number;
  /** Allowed values of a string option. */
  choices?: readonly string[];
  /** Short alias, e.g. 'o' for -o. */
  short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface Parsed {
  /** Values by option name (numbers already converted); absent when not given. */
  values: Record<string, string | number | boolean>;
  /** Names of the options given on the command line, in order. */
  given: string[];
  positionals: string[];
  help: boolean;
}

function convert(name: string, spec: OptionSpec, raw: string): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(raw)) {
      throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(raw)}`);
    }
    return raw;
  }
  const v = raw.trim() === '' ? NaN : Number(raw);
  const kind = spec.type === 'int' ? 'an integer' : 'a number';
  if (!Number.isFinite(v) || (spec.type === 'int' && !Number.isInteger(v))) throw new UsageError(`--${name} must be ${kind}, got ${JSON.stringify(raw)}`);
  if (spec.min !== undefined && (spec.exclusiveMin ? !(v > spec.min) : !(v >= spec.min))) {
    throw new UsageError(`--${name} must be ${spec.exclusiveMin ? '>' : '>='} ${spec.min}, got ${raw}`);
  }
  if (spec.max !== undefined && !(v <= spec.max)) throw new UsageError(`--${name} must be <= ${spec.max}, got ${raw}`);
  return v;
}

/** Parse `argv` (without the command name) against `specs`. */
export function parseArgs(argv: readonly string[], specs: OptionSpecs, command: string): Parsed {
  const values: Parsed['values'] = {};
  const given: string[] = [];
  const positionals: string[] = [];
  let help = false;
  const shorts = new Map(Object.entries(specs).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help') {
      help = true;
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq >= 0 ? a.slice(eq + 1) : undefined;
    } else if (a.length === 2 && a[0] === '-' && /[a-zA-Z]/.test(a[1]!)) {
      const long = shorts.get(a[1]!);
      if (!long) throw new UsageError(`unknown option ${a} for '${command}' (see lstm-wasm ${command} --help)`);
      name = long;
    } else {
      positionals.push(a);
      continue;
    }
    let spec = specs[name];
    let negated = false;
    if (!spec && name.startsWith('no-') && specs[name.slice(3)]?.type === 'flag') {
      name = name.slice(3);
      spec = specs[name];
      negated = true;
    }
    if (!spec) throw new UsageError(`unknown option --${name} for '${command}' (see lstm-wasm ${command} --help)`);
    if (given.includes(name)) throw new UsageError(`option --${name} is given twice`);
    given.push(name);
    if (spec.type === 'flag') {
      if (inline !== undefined) {
        if (!['true', 'false', '1', '0'].includes(inline)) throw new UsageError(`--${name} is a flag and takes no value (got ${JSON.stringify(inline)})`);
        values[name] = (inline === 'true' || inline === '1') !== negated;
      } else values[name] = !negated;
      continue;
    }
    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      // A value may start with '-' only when it is a number (--lr -1 is then refused by its bounds).
      if (next === undefined || (next.startsWith('-') && !/^-\d|^-\.\d/.test(next))) throw new UsageError(`option --${name} needs a value${spec.arg ? ` (${spec.arg})` : ''}`);
      raw = next;
      i++;
    }
    values[name] = convert(name, spec, raw);
  }
  return { values, given, positionals, help };
}

/** Help text of a command's options, aligned. */
export function formatOptions(specs: OptionSpecs): string {
  const rows = Object.entries(specs).map(([name, s]) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'flag' ? '' : ` <${s.arg ?? (s.type === 'string' ? 'value' : 'n')}>`}`;
    const right = s.help + (s.default !== undefined ? ` (default ${s.default})` : '');
    return [left, right] as const;
  });
  const w = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  const width = Math.max(40, 98 - w);
  const wrap = (text: string): string[] => {
    const lines: string[] = [];
    let cur = '';
    for (const word of text.split(' ')) {
      if (cur && cur.length + 1 + word.length > width) {
        lines.push(cur);
        cur = word;
      } else cur = cur ? `${cur} ${word}` : word;
    }
    lines.push(cur);
    return lines;
  };
  const indent = `\n  ${' '.repeat(w)}`;
  return rows.map(([l, r]) => `  ${l.padEnd(w)}${l.length >= w ? indent : ''}${wrap(r).join(indent)}`).join('\n');
}
