--[[
  Extend a lease this owner still holds.

  Input:
    KEYS[1] lease
    ARGV[1] owner id
    ARGV[2] lease duration (ms)

  Output: 1 when extended, 0 when the lease is gone or held by another owner.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
