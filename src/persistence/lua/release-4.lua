--[[
  Release a task's lease (passivation), unless events wait past the cursor.

  Refusing while the mailbox holds unapplied entries is what keeps an event
  that races the release from being stranded: send-5.lua appends and reads the
  lease atomically, so either it sees no holder (and activates the task) or
  this script sees its entry (and refuses). The sends and spawns the last
  commit kept (field `o`) were done before the holder passivates: they are dropped.

  Input:
    KEYS[1] state hash
    KEYS[2] lease
    KEYS[3] epoch
    KEYS[4] mailbox stream
    ARGV[1] fencing token
    ARGV[2] owner id

  Output:
    {1}    released
    {-5}   FENCED
    {-7}   PENDING: entries wait past the cursor; the lease is kept
]]
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return {-5}
end
local cursor = redis.call('HGET', KEYS[1], 'cursor') or '0-0'
local pending = redis.call('XRANGE', KEYS[4], '(' .. cursor, '+', 'COUNT', 1)
if #pending > 0 then
  return {-7}
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
-- A passivating holder has done its last step's sends and spawns: a restore need not again.
redis.call('HDEL', KEYS[1], 'o')
return {1}
