--[[
  Claim the tasks whose next look is due, pushing each one's score forward so
  that concurrent sweepers do not claim it again before a worker takes it.

  Input:
    KEYS[1] due sorted set
    ARGV[1] now (ms)
    ARGV[2] max members
    ARGV[3] retry delay (ms): the claimed members' new score is now + this

  Output: the claimed task ids
]]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local later = tonumber(ARGV[1]) + tonumber(ARGV[3])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], later, id)
end
return ids
