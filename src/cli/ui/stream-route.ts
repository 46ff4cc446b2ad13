import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { InvalidIdError, TaskNotFoundError, type BatonClient, type StreamItem } from '../../index.js';

/** How often an open stream sends a comment line (`: ping`), so proxies do not cut a quiet one, ms. */
export const STREAM_HEARTBEAT_MS = 15_000;

/** Where a stream request starts: its `Last-Event-ID` (a reconnecting EventSource sends it), else `?from=`, else 'start'. */
export function streamFrom(c: Context): string {
  const from = c.req.header('last-event-id')?.trim() || c.req.query('from') || 'start';
  if (from !== 'start' && from !== 'end' && !/^\d+-\d+$/.test(from)) {
    throw new InvalidIdError(`stream position ${JSON.stringify(from)} is invalid: use 'start', 'end' or an entry id`);
  }
  return from;
}

/** The SSE fields of one stream item: its entry id, its kind as the event, the item as JSON. */
export function sseOf(item: StreamItem): { id: string; event: string; data: string } {
  return { id: item.id, event: item.kind, data: JSON.stringify(item) };
}

/**
 * `GET /api/tasks/:id/stream`: the task's durable stream as Server-Sent
 * Events (see {@link sseOf}), replayed after the position
 * {@link streamFrom} reads, then followed live; the response ends after the
 * `end` item. A task that ended without an end entry gets one `end` event
 * without an id (its `status`, no `id`) once what is stored was sent, so a
 * page knows to stop. The reader is aborted when the client goes away or
 * the server closes (`streams`: the server's closers). A stream that fails
 * after it began is closed; a client resumes it from its last id.
 */
export async function taskStreamRoute(
  c: Context,
  id: string,
  client: BatonClient,
  streams: Set<() => void>,
  fail: (c: Context, err: unknown) => Response,
  heartbeatMs = STREAM_HEARTBEAT_MS,
): Promise<Response> {
  let from: string;
  try {
    from = streamFrom(c);
    if (!(await client.get(id))) throw new TaskNotFoundError(id);
  } catch (err) {
    return fail(c, err);
  }
  c.header('X-Accel-Buffering', 'no'); // nginx: do not buffer the events
  return streamSSE(c, async (stream) => {
    const reader = new AbortController();
    const end = () => reader.abort();
    streams.add(end);
    stream.onAbort(end);
    const ping = setInterval(() => void stream.write(': ping\n\n'), heartbeatMs);
    try {
      // The first write sends the headers at once, also when nothing is stored yet.
      await stream.write(': stream\n\n');
      let ended = false;
      for await (const item of client.stream(id, { from, signal: reader.signal })) {
        await stream.writeSSE(sseOf(item));
        ended = item.kind === 'end';
      }
      if (!ended && !reader.signal.aborted) {
        const status = (await client.get(id))?.status ?? 'unknown';
        await stream.writeSSE({ event: 'end', data: JSON.stringify({ kind: 'end', status, at: Date.now() }) });
      }
    } catch {
      // The response closes; a reconnecting client resumes after its last id.
    } finally {
      clearInterval(ping);
      streams.delete(end);
      reader.abort();
    }
  });
}
