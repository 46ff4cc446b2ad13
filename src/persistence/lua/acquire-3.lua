--[[
  Take a task's lease and bump its fencing epoch; return its committed state.

  Input:
    KEYS[1] state hash
    KEYS[2] lease
    KEYS[3] epoch
    ARGV[1] owner id
    ARGV[2] lease duration (ms)

  Output:
    {1, epoch, stateFields}  acquired; stateFields is HGETALL of the state hash
    {-1}                     TASK_NOT_FOUND
    {-3, status}             TASK_NOT_RUNNING: finished tasks are not activated
    {-4, holder}             HELD by another live owner
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {-1}
end
if status ~= 'active' then
  return {-3, status}
end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[1] then
  return {-4, holder}
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('INCR', KEYS[3])
return {1, epoch, redis.call('HGETALL', KEYS[1])}
