--[[
  Commit one step of a task atomically: the parts of its actor tree that
  changed (format 2, see parts.ts), seq, mailbox cursor, pending timers and
  status; one history entry holding what the step replaced (so any retained
  commit's tree can be rebuilt); refresh the lease; publish the change with
  the delta. Fenced by the epoch: a writer that lost the task cannot commit.
  With ARGV[16], the step applied an event sent from the holder's own
  process: the event is appended to the mailbox here, under the id the holder
  chose, provided nothing was appended since the last entry the holder knew
  (else STALE, nothing written): one script per event instead of send + commit.

  Input:
    KEYS[1] state hash
    KEYS[2] epoch
    KEYS[3] history (LIST of JSON entries; a format-1 STREAM is converted on upgrade)
    KEYS[4] lease
    KEYS[5] mailbox stream
    KEYS[6] recent send tokens (hash token -> entry id, short-lived; see send-5.lua)
    KEYS[7] the task's durable stream (stream-3.lua): a commit that ends the task appends its end entry, when the stream exists
    ARGV[1]  fencing token (the epoch this writer acquired)
    ARGV[2]  seq of this commit (committed seq + 1)
    ARGV[3]  mailbox cursor (id of the last applied entry)
    ARGV[4]  pending timers (JSON), or '' when unchanged
    ARGV[5]  status: active | done | error | stopped
    ARGV[6]  now (ms)
    ARGV[7]  history: event (JSON)
    ARGV[8]  history: state value before (JSON)
    ARGV[9]  history: state value after (JSON)
    ARGV[10] changes channel, or '' when the caller publishes the notice itself (with durability: once
             the replicas acknowledged the commit)
    ARGV[11] change notice head: the script appends the delta and '}'
    ARGV[12] owner id
    ARGV[13] lease duration (ms)
    ARGV[14] history length cap
    ARGV[15] machine version
    ARGV[16] id of the entry to append (the cursor), or '' for a commit that appends nothing
    ARGV[17] event (JSON) to append
    ARGV[18] the mailbox's last id the holder knows: the append requires it to still be the last
    ARGV[19] the send's token (a fallback send with the same token then appends nothing)
    ARGV[20] reason to set ('' leaves it): why the task ended without running
    ARGV[21] refused-events list (JSON) to set ('' leaves it): this step refused an event
    ARGV[22] '1': the task was stored in format 1: drop its `snapshot` field, convert its history
    ARGV[23] number of parts set (S), ARGV[24] deleted (D), then S pairs (field, JSON), D fields

  Output:
    {1}         committed
    {2}         this exact commit was already applied (a resent command): nothing changed
    {-5}        FENCED: nothing written
    {-6, seq}   SEQ_CONFLICT with the committed seq: nothing written
    {-8, last}  STALE: an entry was appended after ARGV[18]; nothing written
    {-9, cursor} GONE: the entry at the new cursor is not in the mailbox (the holder consumed an entry
                this Redis never had: one a failed master acknowledged and never passed on); nothing written
]]
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return {-5}
end
local S, D = tonumber(ARGV[23]), tonumber(ARGV[24])
local appending, timers = ARGV[16] ~= '', ARGV[4] ~= ''

-- Redis's Lua unpacks at most ~8,000 values at once: long lists go in slices.
local function call_in_slices(cmd, key, list, step)
  local out = {}
  for from = 1, #list, step do
    local r = redis.call(cmd, key, unpack(list, from, math.min(from + step - 1, #list)))
    if type(r) == 'table' then
      for _, v in ipairs(r) do out[#out + 1] = v end
    end
  end
  return out
end

-- One read: seq, cursor, the mailbox's last id, and what each part (and the timers) held before this step.
local names = {'seq', 'cursor', 'last'}
local i = 25
for _ = 1, S do
  names[#names + 1] = ARGV[i]
  i = i + 2
end
for _ = 1, D do
  names[#names + 1] = ARGV[i]
  i = i + 1
end
if timers then names[#names + 1] = 'timers' end
local old = call_in_slices('HMGET', KEYS[1], names, 4000)

local committed = tonumber(old[1] or '0')
local seq = tonumber(ARGV[2])
if committed ~= seq - 1 then
  if committed == seq and old[2] == ARGV[3] then
    -- Rewrite seq as it is: a write this connection propagates, so a WAIT after the script covers the
    -- earlier try it answers for (WAIT counts only its own connection's writes).
    redis.call('HSET', KEYS[1], 'seq', ARGV[2])
    return {2}
  end
  return {-6, committed}
end
-- The holder consumed the mailbox up to its new cursor: that entry must be here. After a failover the
-- holder's memory can hold entries (read from notices) that only the old master had; committing them
-- here would apply an event Redis no longer has, and again when its sender resends it.
if not appending and ARGV[3] ~= old[2] and ARGV[3] ~= '0-0' and #redis.call('XRANGE', KEYS[5], ARGV[3], ARGV[3]) == 0 then
  return {-9, old[2] or ''}
end
local set = {'seq', ARGV[2], 'cursor', ARGV[3], 'status', ARGV[5], 'updatedAt', ARGV[6], 'version', ARGV[15], 'format', '2'}
if appending then
  local last = old[3] or '0-0'
  if last ~= ARGV[18] then
    return {-8, last}
  end
  redis.call('XADD', KEYS[5], ARGV[16], 'e', ARGV[17], 'k', '', 't', ARGV[6])
  set[#set + 1] = 'last'
  set[#set + 1] = ARGV[16]
  if ARGV[19] ~= '' then
    if redis.call('HLEN', KEYS[6]) >= 512 then
      redis.call('DEL', KEYS[6])
    end
    redis.call('HSET', KEYS[6], ARGV[19], ARGV[16])
    redis.call('EXPIRE', KEYS[6], 60)
  end
end

if ARGV[22] == '1' then
  redis.call('HDEL', KEYS[1], 'snapshot')
  if redis.call('TYPE', KEYS[3]).ok == 'stream' then
    local rows = redis.call('XRANGE', KEYS[3], '-', '+')
    redis.call('DEL', KEYS[3])
    for _, row in ipairs(rows) do
      local f = {}
      for j = 1, #row[2], 2 do f[row[2][j]] = row[2][j + 1] end
      redis.call('RPUSH', KEYS[3], '{"seq":' .. (f.seq or '0') .. ',"e":' .. (f.e or '{}') .. ',"from":' .. (f.from or 'null') ..
        ',"to":' .. (f.to or 'null') .. ',"at":' .. (f.at or '0') .. '}')
    end
  end
end

-- The delta, and what it replaces (the undo of this step, kept in its history entry).
local undo, absent = {}, {}
local nset, ndel, gone = {}, {}, {}
local o = 4
i = 25
-- The outbox field `o` (a step's sends and spawns, until done) is no part of the state: no undo, not in the notice.
for _ = 1, S do
  local f, v = ARGV[i], ARGV[i + 1]
  set[#set + 1] = f
  set[#set + 1] = v
  if f ~= 'o' then
    local name = cjson.encode(f)
    local was = old[o]
    if was then undo[#undo + 1] = name .. ':' .. was else absent[#absent + 1] = name end
    nset[#nset + 1] = name .. ':' .. v
  end
  i = i + 2
  o = o + 1
end
for _ = 1, D do
  local f = ARGV[i]
  local was = old[o]
  if was then gone[#gone + 1] = f end
  if f ~= 'o' then
    local name = cjson.encode(f)
    if was then undo[#undo + 1] = name .. ':' .. was end
    ndel[#ndel + 1] = name
  end
  i = i + 1
  o = o + 1
end
if timers then
  local was = old[o]
  if was then undo[#undo + 1] = '"timers":' .. was else absent[#absent + 1] = '"timers"' end
  set[#set + 1] = 'timers'
  set[#set + 1] = ARGV[4]
end
if ARGV[20] ~= '' then
  set[#set + 1] = 'reason'
  set[#set + 1] = ARGV[20]
end
if ARGV[21] ~= '' then
  set[#set + 1] = 'rejections'
  set[#set + 1] = ARGV[21]
end
call_in_slices('HSET', KEYS[1], set, 4000)
if #gone > 0 then call_in_slices('HDEL', KEYS[1], gone, 4000) end
redis.call('RPUSH', KEYS[3], '{"seq":' .. ARGV[2] .. ',"e":' .. ARGV[7] .. ',"from":' .. ARGV[8] .. ',"to":' .. ARGV[9] .. ',"at":' .. ARGV[6] ..
  ',"u":{' .. table.concat(undo, ',') .. '},"n":[' .. table.concat(absent, ',') .. ']}')
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[14]), -1)
if ARGV[3] ~= '0-0' then
  redis.call('XTRIM', KEYS[5], 'MINID', '~', ARGV[3])
end
if redis.call('GET', KEYS[4]) == ARGV[12] then
  if ARGV[5] == 'active' then
    redis.call('PEXPIRE', KEYS[4], ARGV[13])
  else
    redis.call('DEL', KEYS[4])
  end
end
if ARGV[5] ~= 'active' and redis.call('EXISTS', KEYS[7]) == 1 then
  redis.call('XADD', KEYS[7], '*', 'k', 'e', 'd', cjson.encode(ARGV[5]), 't', ARGV[6])
end
if ARGV[10] ~= '' then
  redis.call('PUBLISH', ARGV[10], ARGV[11] .. '{"s":{' .. table.concat(nset, ',') .. '},"x":[' .. table.concat(ndel, ',') .. ']}}')
end
return {1}
