--[[
  Move a task that cannot be restored to 'quarantined' with a readable reason.
  Its snapshot and mailbox are kept untouched for inspection.

  Input:
    KEYS[1] state hash
    KEYS[2] lease
    KEYS[3] epoch
    ARGV[1] fencing token
    ARGV[2] reason
    ARGV[3] now (ms)
    ARGV[4] owner id
    ARGV[5] changes channel
    ARGV[6] change notice (JSON)

  Output:
    {1}    quarantined
    {-5}   FENCED
]]
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return {-5}
end
redis.call('HSET', KEYS[1], 'status', 'quarantined', 'reason', ARGV[2], 'updatedAt', ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {1}
