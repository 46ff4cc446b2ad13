--[[
  An agent's progress report: kept as its child's latest (a field of the
  state hash, shown in the task's view) and published to the task's
  progress channel. A task that no longer exists gets neither field nor message.

  Input:
    KEYS[1] state hash
    ARGV[1] field (`g:<child path>`)
    ARGV[2] the report (JSON)
    ARGV[3] progress channel

  Output: 1 kept and published, 0 the task does not exist
]]
if redis.call('HEXISTS', KEYS[1], 'machine') == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[2])
return 1
