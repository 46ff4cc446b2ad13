import pc from 'picocolors';

/** The colour functions in use (all identity when colour is off). */
export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Whether to colour output written to `stream`: only on a terminal, and never
 * when NO_COLOR is set (https://no-color.org).
 */
export function colorWanted(stream: NodeJS.WriteStream = process.stdout): boolean {
  return !!stream.isTTY && !process.env.NO_COLOR;
}

let current: Colors = pc.createColors(colorWanted());

/** Turn colour on or off for everything this module formats. */
export function setColor(enabled: boolean): void {
  current = pc.createColors(enabled);
}

/** The colour functions in use. */
export function colors(): Colors {
  return current;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** Printed width of a string, ignoring ANSI colour codes. */
export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

/** Cut `s` to `max` printed characters, with an ellipsis; colour codes are dropped when it is cut. */
export function truncate(s: string, max: number): string {
  if (max <= 0 || visibleLength(s) <= max) return s;
  return `${s.replace(ANSI, '').slice(0, Math.max(0, max - 1))}…`;
}

/**
 * Columns aligned with two spaces between them, headers dimmed and bold. The
 * last column is cut to the terminal width when stdout is a terminal.
 */
export function table(headers: string[], rows: string[][], opts: { align?: Array<'left' | 'right'> } = {}): string {
  const c = colors();
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => visibleLength(r[i] ?? ''))));
  const termWidth = process.stdout.isTTY ? process.stdout.columns : 0;
  const lines = all.map((row, r) => {
    let used = 0;
    const cells = row.map((cell, i) => {
      const last = i === row.length - 1;
      let text = cell;
      if (last && termWidth) text = truncate(text, termWidth - used);
      const pad = last ? '' : ' '.repeat(widths[i]! - visibleLength(text));
      used += widths[i]! + 2;
      const padded = opts.align?.[i] === 'right' ? pad + text : text + pad;
      return r === 0 ? c.bold(c.dim(padded)) : padded;
    });
    return cells.join('  ').trimEnd();
  });
  return lines.join('\n');
}

/**
 * A state value as a short label: `'a'` → `a`, `{ a: 'b' }` → `a.b`,
 * parallel regions joined with `, `.
 */
export function stateLabel(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'string') return value;
  if (typeof value !== 'object') return String(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => {
      if (v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0)) return k;
      const inner = stateLabel(v);
      return inner.includes(', ') ? `${k}.(${inner})` : `${k}.${inner}`;
    })
    .join(', ');
}

/** A task or child status, coloured: active cyan, done green, error/quarantined red, stopped yellow. */
export function statusText(status: string): string {
  const c = colors();
  switch (status) {
    case 'active':
      return c.cyan(status);
    case 'done':
      return c.green(status);
    case 'error':
    case 'quarantined':
      return c.red(status);
    case 'stopped':
      return c.yellow(status);
    default:
      return c.dim(status);
  }
}

function span(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) ? `${Math.floor((s % 3600) / 60)}m` : ''}`;
  return `${Math.floor(s / 86_400)}d`;
}

/** A time relative to now: `3s ago`, `in 2m5s`. */
export function relativeTime(at: number, now = Date.now()): string {
  if (!at) return '-';
  return at <= now ? `${span(now - at)} ago` : `in ${span(at - now)}`;
}

/** Compact one-line JSON, cut to `max` characters. */
export function compactJson(value: unknown, max = 80): string {
  const text = value === undefined ? '' : JSON.stringify(value);
  return truncate(text ?? '', max);
}

/** Pretty JSON indented by `indent` spaces on every line. */
export function indentedJson(value: unknown, indent = 2): string {
  const pad = ' '.repeat(indent);
  return (JSON.stringify(value, null, 2) ?? 'undefined')
    .split('\n')
    .map((l) => pad + l)
    .join('\n');
}

/** An absolute time in UTC to the millisecond: `2024-05-01 12:03:04.123`. */
export function utcTime(at: number): string {
  if (!at || !Number.isFinite(at)) return '-';
  return new Date(at).toISOString().replace('T', ' ').replace('Z', '');
}

/** Labelled lines (`  label   value`), labels padded to one width and dimmed. */
export function fieldLines(rows: Array<[string, string]>, indent = 2): string {
  const c = colors();
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${' '.repeat(indent)}${c.dim(k.padEnd(width))}  ${v}`).join('\n');
}
