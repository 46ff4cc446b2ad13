--[[
  Publish a process in the machine registry: the machine versions it runs
  (records beside those of other versions, never over them) and when it was
  last seen. A process that leaves writes its record with `expiresAt` now (so
  its last sighting stays known). Publishes a notice when anything a client
  validates or routes by changed (a new or changed machine record, a process
  that came, went or changed its machines), not for a plain heartbeat.

  Input:
    KEYS[1] machines hash (`name@version` -> machine record JSON)
    KEYS[2] processes hash (owner id -> process record JSON)
    ARGV[1] owner id
    ARGV[2] process record (JSON, with `machines`: the fields it runs, and `expiresAt`)
    ARGV[3] registry-changed channel
    ARGV[4] now (ms): a process is live while its `expiresAt` is later
    ARGV[5] prune: process records whose `expiresAt` is before this (ms) are removed
    ARGV[6..] pairs of machine field and machine record (JSON); none on a heartbeat

  Output:
    {1, missing}  done; `missing` counts the process's machine fields with no
                  record (the registry was lost: the caller publishes them again)
]]
local changed = false
for i = 6, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    changed = true
  end
end

local now = tonumber(ARGV[4])
local function shape(json)
  -- What clients route and flag by: the machines a process runs, and whether it is live.
  local ok, p = pcall(cjson.decode, json)
  if not ok or type(p) ~= 'table' or type(p['machines']) ~= 'table' then
    return ''
  end
  local live = tonumber(p['expiresAt'] or 0) > now
  return table.concat(p['machines'], '\n') .. (live and '|live' or '|gone')
end

local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old or shape(old) ~= shape(ARGV[2]) then
  changed = true
end
local missing = 0
local proc = cjson.decode(ARGV[2])
for _, f in ipairs(proc['machines'] or {}) do
  if redis.call('HEXISTS', KEYS[1], f) == 0 then
    missing = missing + 1
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])

-- Records of processes gone for long (a crash leaves one behind) are dropped.
local all = redis.call('HGETALL', KEYS[2])
local cutoff = tonumber(ARGV[5])
for i = 1, #all, 2 do
  local ok, p = pcall(cjson.decode, all[i + 1])
  if not ok or type(p) ~= 'table' or tonumber(p['expiresAt'] or 0) < cutoff then
    redis.call('HDEL', KEYS[2], all[i])
    changed = true
  end
end

if changed then
  redis.call('PUBLISH', ARGV[3], ARGV[1])
end
return {1, missing}
