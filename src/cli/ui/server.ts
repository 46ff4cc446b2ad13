import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { BatonError, type BatonClient, type MachineEntry, type TaskStatus, type TaskView } from '../../index.js';
import { readDetail, type TaskDetail } from '../task-detail.js';
import { MachineCatalog, type Accepts } from './accepts.js';
import { inferGraph } from './infer-graph.js';
import { taskStreamRoute } from './stream-route.js';

/** Options of {@link createUiApp} and {@link startUiServer}. */
export interface UiServerOptions {
  /** The client the page reads and sends through (its prefix is the one shown). */
  client: BatonClient;
  /**
   * Machine definitions, to draw statecharts from. Without one the machine
   * registry's statechart is drawn (what the runtimes published), and without
   * that a task's graph is inferred from its history.
   */
  machines?: Record<string, MachineEntry>;
  /** Port. @default 4400 (0 picks a free one) */
  port?: number;
  /** Listen address. @default '127.0.0.1' */
  host?: string;
}

/** A running web view. */
export interface UiServer {
  /** `http://host:port/` */
  url: string;
  port: number;
  /** Stop serving: live streams end, the port is released. */
  close(): Promise<void>;
}

/** How long `POST /api/tasks/:id/events` waits for the task to apply the event. */
const SEND_TIMEOUT_MS = 10_000;
/** Most tasks one list read scans (`GET /api/tasks` filters and pages over them; `X-Truncated` says when there were more). */
const LIST_SCAN = 5000;
/** Reads of the same list (status, machine) within this long share one `client.list`. */
const LIST_CACHE_MS = 500;
/** How soon a page's EventSource tries again after the server went away (the SSE `retry` field). */
const RETRY_MS = 1000;
const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url));
const ELK = createRequire(import.meta.url).resolve('elkjs/lib/elk.bundled.js');

function httpStatus(err: unknown): 400 | 404 | 409 | 500 | 504 {
  if (!(err instanceof BatonError)) return err instanceof SyntaxError ? 400 : 500;
  const code = String(err.code);
  if (code === 'TASK_NOT_FOUND') return 404;
  if (code === 'TASK_NOT_RUNNING' || code === 'TASK_EXISTS') return 409;
  if (code === 'TIMEOUT') return 504;
  return code.startsWith('INVALID') || code === 'PAYLOAD_TOO_LARGE' || code === 'UNKNOWN_MACHINE' ? 400 : 500;
}

function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined; // 'null' (sandboxed frames) and other non-URLs
  }
}

/** A `limit` query parameter: a positive integer up to 1000, else `fallback`. */
function limitOf(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1000) : fallback;
}

/** An `offset` query parameter: a non-negative integer, else 0. */
function offsetOf(text: string | undefined): number {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function fail(c: Context, err: unknown) {
  const body = { error: err instanceof Error ? err.message : String(err), ...(err instanceof BatonError ? { code: err.code } : {}) };
  return c.json(body, httpStatus(err));
}

/**
 * The web view's HTTP app (Hono): the page and its JSON API.
 *
 * - `GET /api/tasks?status=&machine=&parent=&q=&group=machine&limit=&offset=` task views, newest first
 *   (`group=machine`: by machine name, then newest first), `parent` the child tasks of that task (a child
 *   task's view names its `parent`), `q` a case-insensitive substring of the id;
 *   headers `X-Total-Count` (matches before paging), `X-Machines` (URI-encoded JSON `{ machine: count }`
 *   of the matches) and `X-Truncated` (more than {@link LIST_SCAN} tasks were listed)
 * - `GET /api/live` Server-Sent Events: `hello` when connected, `ping` every 10 s (the page's connection badge)
 * - `GET /api/tasks/:id` view (with `unserved`; `parent` for a child task, `task` on a child actor that is one),
 *   agents, decisions and `accepts` (the events its current state takes, with their JSON Schemas)
 * - `GET /api/tasks/:id/history`, `GET /api/tasks/:id/graph` (definition or registry, else inferred)
 * - `GET /api/tasks/:id/events` the `accepts` alone
 * - `GET /api/tasks/:id/live` Server-Sent Events: `detail` on every commit, `progress` from agents
 * - `GET /api/tasks/:id/stream` the task's durable stream (agents' `stream.write` chunks) as Server-Sent Events:
 *   `id: <entry id>`, `event: chunk | attempt | end`, `data: <the item as JSON>`; from `Last-Event-ID`, else
 *   `?from=start|end|<id>` (default start); ends after the `end` item (see {@link taskStreamRoute})
 * - `POST /api/tasks/:id/events` (body: the event JSON; resolves once applied, `{ entryId, duplicate, applied }`;
 *   errors `{ error: message, code }`, 400 when refused), `POST /api/tasks/:id/stop`
 * - `GET /api/machines`, `GET /api/machines/:name` state trees for layout
 */
export function createUiApp(opts: UiServerOptions & { streams?: Set<() => void>; /** Interval of the SSE heartbeat comments, ms (tests shorten it). */ heartbeatMs?: number }): Hono {
  const { client } = opts;
  const streams = opts.streams ?? new Set<() => void>();
  const catalog = new MachineCatalog(client, opts.machines);
  /** The task detail, with `unserved` (as `client.get` flags it) and the events its state accepts. */
  const detailOf = async (id: string): Promise<TaskDetail & { accepts: Accepts }> => {
    const d = await readDetail(client, id); // its view comes from client.get: `unserved` is already set
    const accepts = await catalog.accepts(d.view.machine, d.view.version, d.view.value);
    // An ended task takes no more events (a send is TASK_NOT_RUNNING).
    return { ...d, accepts: d.view.status === 'active' ? accepts : { ...accepts, events: [] } };
  };
  /** `client.list` of one (status, machine, parent), shared by the reads of the next {@link LIST_CACHE_MS}. */
  const lists = new Map<string, { at: number; tasks: Promise<TaskView[]> }>();
  const listed = (status: TaskStatus | undefined, machine: string | undefined, parent: string | undefined): Promise<TaskView[]> => {
    const now = Date.now();
    for (const [k, v] of lists) if (now - v.at >= LIST_CACHE_MS) lists.delete(k);
    const key = JSON.stringify([status ?? null, machine ?? null, parent ?? null]);
    const hit = lists.get(key);
    if (hit) return hit.tasks;
    const tasks = client.list({ status, machine, parent, limit: LIST_SCAN });
    lists.set(key, { at: now, tasks });
    tasks.catch(() => lists.delete(key));
    return tasks;
  };
  /** Resolves when the server closes or the client goes away. */
  const untilEnd = (stream: { onAbort(fn: () => void): void }) =>
    new Promise<void>((resolve) => {
      const end = () => {
        streams.delete(end);
        resolve();
      };
      streams.add(end);
      stream.onAbort(end);
    });
  const app = new Hono();

  // Writes only from this page: JSON bodies (a cross-site form cannot send one without a preflight) and no foreign Origin.
  app.use('/api/*', async (c, next) => {
    if (c.req.method !== 'GET') {
      const origin = c.req.header('origin');
      if (origin && hostOf(origin) !== c.req.header('host')) return c.json({ error: 'cross-origin request refused' }, 403);
      if (!(c.req.header('content-type') ?? '').startsWith('application/json')) return c.json({ error: 'send JSON (content-type: application/json)' }, 415);
    }
    await next();
  });

  app.get('/api/info', async (c) => c.json({ prefix: client.prefix, machines: await catalog.names() }));
  app.get('/api/machines', async (c) => c.json(await catalog.names()));
  app.get('/api/machines/:name', async (c) => {
    const g = await catalog.graph(c.req.param('name'));
    return g ? c.json(g) : c.json({ error: `no machine '${c.req.param('name')}' (none registered; start baton ui with --module)` }, 404);
  });

  app.get('/api/tasks', async (c) => {
    try {
      const status = (c.req.query('status') || undefined) as TaskStatus | undefined;
      const machine = c.req.query('machine') || undefined;
      const parent = c.req.query('parent') || undefined;
      const q = (c.req.query('q') ?? '').trim().toLowerCase();
      const all = await listed(status, machine, parent);
      let matched = q ? all.filter((t) => t.id.toLowerCase().includes(q)) : all;
      const counts: Record<string, number> = {};
      for (const t of matched) counts[t.machine] = (counts[t.machine] ?? 0) + 1;
      // Array.prototype.sort is stable: newest first within each machine.
      if (c.req.query('group') === 'machine') matched = [...matched].sort((a, b) => (a.machine < b.machine ? -1 : a.machine > b.machine ? 1 : 0));
      const offset = offsetOf(c.req.query('offset'));
      c.header('X-Total-Count', String(matched.length));
      c.header('X-Machines', encodeURIComponent(JSON.stringify(Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1))))));
      c.header('X-Truncated', String(all.length >= LIST_SCAN));
      return c.json(matched.slice(offset, offset + limitOf(c.req.query('limit'), 200)));
    } catch (err) {
      return fail(c, err);
    }
  });

  // The page's connection to this server: open while the server runs (the badge says "live"), an error when it goes away.
  app.get('/api/live', (c) =>
    streamSSE(c, async (stream) => {
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ prefix: client.prefix, at: Date.now() }), retry: RETRY_MS });
      const ping = setInterval(() => void stream.writeSSE({ event: 'ping', data: String(Date.now()) }).catch(() => undefined), 10_000);
      await untilEnd(stream).finally(() => clearInterval(ping));
    }),
  );

  app.get('/api/tasks/:id', async (c) => {
    try {
      return c.json(await detailOf(c.req.param('id')));
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get('/api/tasks/:id/history', async (c) => {
    try {
      return c.json(await client.history(c.req.param('id'), { limit: limitOf(c.req.query('limit'), 200) }));
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get('/api/tasks/:id/graph', async (c) => {
    try {
      const { view } = await readDetail(client, c.req.param('id'));
      const known = await catalog.graph(view.machine, view.version);
      if (known) return c.json(known);
      return c.json(inferGraph(view.machine, await client.history(view.id, { limit: 1000 }), view.value));
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get('/api/tasks/:id/events', async (c) => {
    try {
      return c.json((await detailOf(c.req.param('id'))).accepts);
    } catch (err) {
      return fail(c, err);
    }
  });

  // Resolves once the task applied the event (a refusal where it runs is an INVALID_EVENT like any other);
  // a task no live process runs gets it in its mailbox, for when one does.
  app.post('/api/tasks/:id/events', async (c) => {
    const id = c.req.param('id');
    try {
      const event = (await c.req.json()) as { type: string };
      const key = c.req.query('key') || undefined;
      const view = await client.get(id);
      if (view?.unserved) return c.json({ ...(await client.send(id, event, { idempotencyKey: key })), applied: false, reason: view.reason });
      return c.json({ ...(await client.send(id, event, { idempotencyKey: key, wait: 'applied', timeout: SEND_TIMEOUT_MS })), applied: true });
    } catch (err) {
      if (err instanceof BatonError && String(err.code) === 'TIMEOUT') {
        return c.json({ error: `not applied within ${SEND_TIMEOUT_MS / 1000} s: the event stays in the task's mailbox`, code: err.code }, 504);
      }
      return fail(c, err);
    }
  });

  app.post('/api/tasks/:id/stop', async (c) => {
    try {
      return c.json(await client.stop(c.req.param('id'), { timeout: 15_000 }));
    } catch (err) {
      return fail(c, err);
    }
  });

  app.get('/api/tasks/:id/stream', (c) => taskStreamRoute(c, c.req.param('id'), client, streams, fail, opts.heartbeatMs));

  app.get('/api/tasks/:id/live', async (c) => {
    const id = c.req.param('id');
    try {
      await readDetail(client, id); // 404 before the stream starts
    } catch (err) {
      return fail(c, err);
    }
    return streamSSE(c, async (stream) => {
      await stream.writeSSE({ event: 'hello', data: '{}', retry: RETRY_MS });
      let chain = Promise.resolve();
      let lastSeq = -1;
      const push = (event: string, data: () => Promise<unknown> | unknown) => {
        chain = chain
          .then(async () => {
            if (stream.aborted || stream.closed) return;
            await stream.writeSSE({ event, data: JSON.stringify(await data()) });
          })
          .catch(() => undefined);
      };
      const sendDetail = (seq: number) =>
        push('detail', async () => {
          const d = await detailOf(id);
          lastSeq = Math.max(lastSeq, d.view.seq, seq);
          return d;
        });
      const offCommits = client.subscribe(id, (view) => {
        if (view.seq > lastSeq) sendDetail(view.seq);
      });
      const offProgress = client.onProgress(id, (p) => push('progress', () => p));
      await Promise.all([offCommits.ready, offProgress.ready]);
      sendDetail(-1);
      const ping = setInterval(() => push('ping', () => Date.now()), 15_000);
      await untilEnd(stream).finally(() => {
        clearInterval(ping);
        offCommits();
        offProgress();
      });
    });
  });

  app.get('/vendor/elk.bundled.js', serveStatic({ path: ELK }));
  app.use('/*', serveStatic({ root: PUBLIC }));
  return app;
}

/** Serve the web view on `host:port` (default 127.0.0.1:4400). */
export async function startUiServer(opts: UiServerOptions): Promise<UiServer> {
  const streams = new Set<() => void>();
  const app = createUiApp({ ...opts, streams });
  const host = opts.host ?? '127.0.0.1';
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: opts.port ?? 4400, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: async () => {
      for (const end of streams) end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
