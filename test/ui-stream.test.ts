// The web view's durable-stream endpoint, over real HTTP: GET /api/tasks/:id/stream
// sends each stream item as an SSE event (id, event = kind, data = the item), a
// client that disconnects halfway and resumes with Last-Event-ID gets the rest
// exactly once, the response ends after the end item, the reader stops when
// the client goes away, and bad requests are answered as the other endpoints do.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentContext, StreamItem } from '../src/index.js';
import { createUiApp } from '../src/cli/ui/server.js';
import { talk } from './fixtures/stream-machines.js';
import { uniquePrefix, waitUntil } from './helpers/index.js';
import { useBaton } from './helpers/setup.js';

const baton = useBaton();

/** One event as read off the wire. */
interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** An SSE response read in the background: its events and comment lines as they come. */
interface SseReader {
  status: number;
  headers: Headers;
  /** The raw text received. */
  raw: () => string;
  events: SseEvent[];
  comments: string[];
  /** Resolves when the server ended the response (not when we aborted it). */
  ended: Promise<boolean>;
  abort(): void;
}

async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const ac = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let raw = '';
  let buffer = '';
  const ended = (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return true;
        raw += value;
        buffer += value;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const e: SseEvent = { data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('data: ')) data.push(line.slice(6));
            else if (line.startsWith('id: ')) e.id = line.slice(4);
            else if (line.startsWith('event: ')) e.event = line.slice(7);
          }
          if (data.length) events.push({ ...e, data: data.join('\n') });
        }
      }
    } catch {
      return false; // aborted by us
    }
  })();
  return { status: res.status, headers: res.headers, raw: () => raw, events, comments, ended, abort: () => ac.abort() };
}

const items = (events: SseEvent[]) => events.map((e) => JSON.parse(e.data) as StreamItem);
const words = (events: SseEvent[]) => items(events).flatMap((i) => (i.kind === 'chunk' ? [i.data] : []));

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** A ui app on a real socket, with its set of open streams (each one's closer) to look at. */
async function serveUi(prefix: string, heartbeatMs?: number) {
  const streams = new Set<() => void>();
  const app = createUiApp({ client: baton.client(prefix), streams, heartbeatMs });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, streams };
}

const servers: ServerType[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    (s as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

describe('GET /api/tasks/:id/stream (Server-Sent Events)', () => {
  it('streams live; a client that disconnects halfway and resumes with Last-Event-ID gets the rest exactly once', async () => {
    const prefix = uniquePrefix('ui-sse');
    const half = gate();
    const all = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    const talker = async ({ input, stream }: AgentContext<{ words: string[] }>) => {
      for (const w of input.words.slice(0, 5)) await stream.write(w);
      await half.opened;
      for (const w of input.words.slice(5)) await stream.write(w);
      return {};
    };
    await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
    const { url, streams } = await serveUi(prefix);
    await baton.client(prefix).spawn('talk', { id: 'sse', input: { words: all } });

    const first = await openSse(`${url}/api/tasks/sse/stream`);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await waitUntil(() => words(first.events).length === 5, { timeout: 10_000, message: 'the first five words, live' });
    // The wire format: an id, the kind as the event, the item as JSON.
    const firstChunk = first.events.find((e) => e.event === 'chunk')!;
    expect(first.raw()).toContain(`id: ${firstChunk.id}\n`);
    expect(first.raw()).toMatch(/event: attempt\ndata: \{"kind":"attempt",.*\}\nid: \d+-\d+\n\n/);
    expect(JSON.parse(firstChunk.data)).toMatchObject({ kind: 'chunk', id: firstChunk.id, data: 'a', attempt: 1, childPath: ['0.talk.talking'] });
    expect(first.events.every((e) => e.id && e.event === JSON.parse(e.data).kind && JSON.parse(e.data).id === e.id)).toBe(true);
    expect(streams.size).toBe(1);

    // Disconnect halfway: the server's reader is aborted.
    first.abort();
    expect(await first.ended).toBe(false);
    await waitUntil(() => streams.size === 0, { timeout: 5000, message: 'the reader aborted after the client went away' });

    half.open();
    const lastSeen = first.events.at(-1)!.id!;
    const rest = await openSse(`${url}/api/tasks/sse/stream`, { 'last-event-id': lastSeen });
    expect(await rest.ended).toBe(true); // the server ends the response after the end item
    expect(words(rest.events)).toEqual(all.slice(5));
    expect(rest.events.at(-1)).toMatchObject({ event: 'end' });
    expect(items(rest.events).at(-1)).toMatchObject({ kind: 'end', status: 'done' });
    expect([...words(first.events), ...words(rest.events)]).toEqual(all);
    expect(streams.size).toBe(0);

    // ?from= does the same; Last-Event-ID wins over it (a reconnecting EventSource keeps its URL).
    const fromQuery = await openSse(`${url}/api/tasks/sse/stream?from=${lastSeen}`);
    expect(await fromQuery.ended).toBe(true);
    expect(words(fromQuery.events)).toEqual(all.slice(5));
    const both = await openSse(`${url}/api/tasks/sse/stream?from=start`, { 'last-event-id': lastSeen });
    await both.ended;
    expect(words(both.events)).toEqual(all.slice(5));
    // Default: from the start, everything once.
    const whole = await openSse(`${url}/api/tasks/sse/stream`);
    await whole.ended;
    expect(words(whole.events)).toEqual(all);
    // from=end of an ended task: nothing after its end; the response still ends (an end event without an id).
    const after = await openSse(`${url}/api/tasks/sse/stream?from=end`);
    expect(await after.ended).toBe(true);
    expect(after.events).toEqual([{ event: 'end', data: expect.stringContaining('"status":"done"') }]);
  }, 60_000);

  it('unknown task: 404 TASK_NOT_FOUND; a bad position: 400; a quiet stream sends `: ping` comments', async () => {
    const prefix = uniquePrefix('ui-sse-bad');
    const done = gate();
    const wrote = gate();
    const talker = async ({ stream }: AgentContext<{ words: string[] }>) => {
      await stream.write('x');
      wrote.open();
      await done.opened;
      return {};
    };
    await baton.runtime(prefix, { machines: { talk }, agents: { talker } });
    const { url, streams } = await serveUi(prefix, 50);
    const missing = await fetch(`${url}/api/tasks/nope/stream`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'TASK_NOT_FOUND', error: expect.stringContaining('nope') });

    await baton.client(prefix).spawn('talk', { id: 'quiet', input: { words: [] } });
    for (const [query, header] of [['?from=yesterday', undefined], ['', 'garbage']] as const) {
      const bad = await fetch(`${url}/api/tasks/quiet/stream${query}`, { headers: header ? { 'last-event-id': header } : {} });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'INVALID_ID' });
    }

    await wrote.opened;
    const live = await openSse(`${url}/api/tasks/quiet/stream?from=end`);
    await waitUntil(() => live.comments.filter((c) => c === 'ping').length >= 2, { timeout: 5000, message: 'two heartbeats' });
    expect(live.events).toEqual([]); // from=end: the 'x' written before is not sent
    done.open();
    expect(await live.ended).toBe(true);
    expect(items(live.events).map((i) => i.kind)).toEqual(['end']);
    await waitUntil(() => streams.size === 0, { timeout: 5000, message: 'no reader left' });
  }, 60_000);
});
