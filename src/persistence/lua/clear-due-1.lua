--[[
  Forget a task in the due set, but only if its score is still the one this
  process wrote: a newer holder's entry (another process activated the task
  meanwhile) is left alone.

  Input:
    KEYS[1] due sorted set
    ARGV[1] task id
    ARGV[2] expected score, or '' to remove unconditionally

  Output: 1 when removed, 0 when absent or rewritten by someone else.
]]
if ARGV[2] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not score or tonumber(score) ~= tonumber(ARGV[2]) then
    return 0
  end
end
return redis.call('ZREM', KEYS[1], ARGV[1])
