--[[
  Create a task, and optionally take its lease for the creating process.

  Input:
    KEYS[1] state hash
    KEYS[2] lease
    KEYS[3] epoch
    ARGV[1] machine name
    ARGV[2] machine version
    ARGV[3] input (JSON)
    ARGV[4] now (ms)
    ARGV[5] owner id, or '' to leave the task for any worker
    ARGV[6] lease duration (ms)

  Output:
    {1, epoch}  created (epoch 0 when no owner was given)
    {-2}        TASK_EXISTS: nothing written
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {-2}
end
redis.call('HSET', KEYS[1], 'machine', ARGV[1], 'version', ARGV[2], 'input', ARGV[3],
  'status', 'active', 'seq', '0', 'cursor', '0-0', 'last', '0-0',
  'createdAt', ARGV[4], 'updatedAt', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[6])
  return {1, redis.call('INCR', KEYS[3])}
end
return {1, 0}
