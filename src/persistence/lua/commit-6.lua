--[[
  Commit one step of a task atomically: snapshot, seq, mailbox cursor,
  pending timers and status, one history entry; refresh the lease; publish
  the change. Fenced by the epoch: a writer that lost the task cannot commit.
  With ARGV[17], the step applied an event sent from the holder's own process:
  the event is appended to the mailbox here, under the id the holder chose,
  provided nothing was appended since the last entry the holder knew (else
  STALE, nothing written): one script per event instead of send + commit.

  Input:
    KEYS[1] state hash
    KEYS[2] epoch
    KEYS[3] history stream
    KEYS[4] lease
    KEYS[5] mailbox stream
    KEYS[6] recent send tokens (hash token -> entry id, short-lived; see send-5.lua)
    ARGV[1]  fencing token (the epoch this writer acquired)
    ARGV[2]  seq of this commit (committed seq + 1)
    ARGV[3]  mailbox cursor (id of the last applied entry)
    ARGV[4]  snapshot (JSON)
    ARGV[5]  pending timers (JSON)
    ARGV[6]  status: active | done | error | stopped
    ARGV[7]  now (ms)
    ARGV[8]  history: event (JSON)
    ARGV[9]  history: state value before (JSON)
    ARGV[10] history: state value after (JSON)
    ARGV[11] changes channel
    ARGV[12] change notice without its snapshot: the script appends ARGV[4] and '}'
    ARGV[13] owner id
    ARGV[14] lease duration (ms)
    ARGV[15] history length cap (approximate)
    ARGV[16] machine version
    ARGV[17] id of the entry to append (the cursor), or '' for a commit that appends nothing
    ARGV[18] event (JSON) to append
    ARGV[19] the mailbox's last id the holder knows: the append requires it to still be the last
    ARGV[20] the send's token (a fallback send with the same token then appends nothing)
    ARGV[21] reason to set ('' leaves it): why the task ended without running
    ARGV[22] refused-events list (JSON) to set ('' leaves it): this step refused an event

  Output:
    {1}         committed
    {2}         this exact commit was already applied (a resent command): nothing written
    {-5}        FENCED: nothing written
    {-6, seq}   SEQ_CONFLICT with the committed seq: nothing written
    {-8, last}  STALE: an entry was appended after ARGV[19]; nothing written
]]
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {-5}
end
local committed = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
local seq = tonumber(ARGV[2])
if committed ~= seq - 1 then
  if committed == seq and redis.call('HGET', KEYS[1], 'cursor') == ARGV[3] then
    return {2}
  end
  return {-6, committed}
end
if ARGV[17] ~= '' then
  local last = redis.call('HGET', KEYS[1], 'last') or '0-0'
  if last ~= ARGV[19] then
    return {-8, last}
  end
  redis.call('XADD', KEYS[5], ARGV[17], 'e', ARGV[18], 'k', '', 't', ARGV[7])
  redis.call('HSET', KEYS[1], 'last', ARGV[17])
  if ARGV[20] ~= '' then
    if redis.call('HLEN', KEYS[6]) >= 512 then
      redis.call('DEL', KEYS[6])
    end
    redis.call('HSET', KEYS[6], ARGV[20], ARGV[17])
    redis.call('EXPIRE', KEYS[6], 60)
  end
end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'cursor', ARGV[3], 'snapshot', ARGV[4],
  'timers', ARGV[5], 'status', ARGV[6], 'updatedAt', ARGV[7], 'version', ARGV[16])
if ARGV[21] ~= '' then
  redis.call('HSET', KEYS[1], 'reason', ARGV[21])
end
if ARGV[22] ~= '' then
  redis.call('HSET', KEYS[1], 'rejections', ARGV[22])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[15], '*',
  'seq', ARGV[2], 'e', ARGV[8], 'from', ARGV[9], 'to', ARGV[10], 'at', ARGV[7])
if ARGV[3] ~= '0-0' then
  redis.call('XTRIM', KEYS[5], 'MINID', '~', ARGV[3])
end
if redis.call('GET', KEYS[4]) == ARGV[13] then
  if ARGV[6] == 'active' then
    redis.call('PEXPIRE', KEYS[4], ARGV[14])
  else
    redis.call('DEL', KEYS[4])
  end
end
redis.call('PUBLISH', ARGV[11], ARGV[12] .. ARGV[4] .. '}')
return {1}
