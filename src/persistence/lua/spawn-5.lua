--[[
  Create a task, and optionally take its lease for the creating process.
  On a single Redis node it also marks the task due and adds it to the
  prefix's index (one round trip); on Redis Cluster those prefix-wide keys
  live in other slots, so the caller passes task keys as placeholders, leaves
  ARGV[7]/ARGV[8] empty and writes them itself.

  Input:
    KEYS[1] state hash
    KEYS[2] lease
    KEYS[3] epoch
    KEYS[4] due set (or a placeholder)
    KEYS[5] task index (or a placeholder)
    ARGV[1] machine name
    ARGV[2] machine version
    ARGV[3] input (JSON)
    ARGV[4] now (ms)
    ARGV[5] owner id, or '' to leave the task for any worker
    ARGV[6] lease duration (ms)
    ARGV[7] due score, or '' to leave the due set alone
    ARGV[8] '1' to add the task to the index (scored by now), '' not to
    ARGV[9] task id (the member written to the due set and the index)
    ARGV[10] parent task id ('' for a task a client spawned): a child task (fromTask)
    ARGV[11] the child's link (JSON: path of its invoking actor in the parent, depth), with ARGV[10]

  Output:
    {1, epoch}  created (epoch 0 when no owner was given)
    {-2}        TASK_EXISTS: nothing changed (the task's machine is rewritten as it is: a write this
                connection propagates, so a WAIT after the script covers the task's creation, which a
                retry after NOT_REPLICATED may be answering for)
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  local machine = redis.call('HGET', KEYS[1], 'machine')
  if machine then redis.call('HSET', KEYS[1], 'machine', machine) end
  return {-2}
end
redis.call('HSET', KEYS[1], 'machine', ARGV[1], 'version', ARGV[2], 'input', ARGV[3],
  'status', 'active', 'seq', '0', 'cursor', '0-0', 'last', '0-0',
  'createdAt', ARGV[4], 'updatedAt', ARGV[4])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[1], 'parent', ARGV[10], 'link', ARGV[11])
end
if ARGV[7] ~= '' then
  redis.call('ZADD', KEYS[4], ARGV[7], ARGV[9])
end
if ARGV[8] == '1' then
  redis.call('ZADD', KEYS[5], 'NX', ARGV[4], ARGV[9])
end
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
  return {1, redis.call('INCR', KEYS[3])}
end
return {1, 0}
