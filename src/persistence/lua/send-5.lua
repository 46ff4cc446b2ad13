--[[
  Append an event to a task's mailbox and wake its holder. The wake notice
  carries the entry (task id, entry id, previous id and event, '\n'-separated),
  so a holder that knows the previous entry queues it without reading the stream.

  The lease is read in the same script as the append, so a holder that
  releases the task afterwards sees the entry (release refuses while entries
  lie past the cursor) and a holder that released before is absent here (the
  caller then enqueues an activation). No event can be stranded between them.

  Input:
    KEYS[1] state hash
    KEYS[2] mailbox stream
    KEYS[3] lease
    KEYS[4] idempotency key (a key of the task's slot; unused when ARGV[2] is '')
    KEYS[5] recent send tokens (hash token -> entry id, short-lived)
    ARGV[1] event (JSON)
    ARGV[2] idempotency key, or ''
    ARGV[3] idempotency window (s)
    ARGV[4] now (ms)
    ARGV[5] owner channel prefix
    ARGV[6] task id
    ARGV[7] sender's own owner id ('' for a client): no notice to itself
    ARGV[8] this call's token: a command resent after a lost reply finds it and appends nothing

  Output:
    {1, id, prevId, holder}  appended; holder is '' when nobody holds the task
    {2, id, holder}          duplicate idempotency key: the earlier entry's id and the holder, nothing changed

  A duplicate (by idempotency key or by token) rewrites the key it found with
  the value it holds: no change, but a write this connection propagates, so a
  WAIT after the script also covers the earlier write it answers for (WAIT
  counts only the writes of its own connection, and the earlier one may have
  come over another connection and not be replicated yet).
    {-1}                     TASK_NOT_FOUND
    {-3, status}             TASK_NOT_RUNNING
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {-1}
end
if status ~= 'active' then
  return {-3, status}
end
if ARGV[2] ~= '' then
  local earlier = redis.call('GET', KEYS[4])
  if earlier then
    redis.call('SET', KEYS[4], earlier, 'KEEPTTL')
    -- The holder too: a retry after a failed wake must still be able to wake the task.
    return {2, earlier, redis.call('GET', KEYS[3]) or ''}
  end
end
if ARGV[8] ~= '' then
  local again = redis.call('HGET', KEYS[5], ARGV[8])
  if again then
    redis.call('HSET', KEYS[5], ARGV[8], again)
    return {1, again, '', redis.call('GET', KEYS[3]) or ''}
  end
end
local prev = redis.call('HGET', KEYS[1], 'last') or '0-0'
local id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[1], 'k', ARGV[2], 't', ARGV[4])
redis.call('HSET', KEYS[1], 'last', id)
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[4], id, 'EX', ARGV[3])
end
if ARGV[8] ~= '' then
  -- A resend comes within seconds: a small, short-lived window is enough.
  if redis.call('HLEN', KEYS[5]) >= 512 then
    redis.call('DEL', KEYS[5])
  end
  redis.call('HSET', KEYS[5], ARGV[8], id)
  redis.call('EXPIRE', KEYS[5], 60)
end
local holder = redis.call('GET', KEYS[3])
if holder then
  if holder ~= ARGV[7] then
    redis.call('PUBLISH', ARGV[5] .. holder, ARGV[6] .. '\n' .. id .. '\n' .. prev .. '\n' .. ARGV[1])
  end
  return {1, id, prev, holder}
end
return {1, id, prev, ''}
