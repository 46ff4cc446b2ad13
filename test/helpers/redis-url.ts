import { randomBytes } from 'node:crypto';

/** The Redis that `npm test` (scripts/run.mjs) started, or $REDIS_URL set by the user. */
export function redisUrl(): string {
  const url = process.env.REDIS_URL;
  if (!url) {
    throw new Error(
      'REDIS_URL is not set: run tests through npm test, which starts a private Redis ' +
        '(or set REDIS_URL=redis://host:port yourself)',
    );
  }
  return url;
}

/**
 * A key prefix unique to one test: `t-${name}-${8 hex}`. Characters other than
 * [A-Za-z0-9_-] in name (notably ':' and braces, which matter for cluster hash tags)
 * are replaced by '-'.
 */
export function uniquePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_-]+/g, '-');
  return `t-${safe}-${randomBytes(4).toString('hex')}`;
}
