--[[
  A task's durable stream (agents' `stream.write`): one script for an
  agent attempt to begin writing, to write a chunk, and for its run to be
  closed (cancelled). Each job has a run counter in the runs hash: an attempt
  that begins takes the next run number (`<job>` counter) and becomes the
  current one (`<job>:c`), and a chunk is appended only by the current run,
  so an attempt that a retry or a re-run after a crash superseded, or that was
  cancelled, writes nothing (FENCED). Every begin appends a marker entry
  before the run's first chunk: a reader drops what the superseded run wrote.

  Entries: k (kind: a = an attempt begins, c = chunk, e = the task ended),
  j (job id), p (child path, JSON), n (run number), d (data, JSON), t (time).

  Input:
    KEYS[1] state hash
    KEYS[2] stream
    KEYS[3] runs hash (job -> run counter, job:c -> current run, 0 when closed)
    ARGV[1] op: 'next' (begin the next run), 'first' (begin run 1, and write ARGV[6] when given, only if no
            run began yet), 'write' (a chunk of run ARGV[3]), 'close' (close run ARGV[3], or any run when '')
    ARGV[2] job id
    ARGV[3] run number ('write', 'close')
    ARGV[4] child path (JSON)
    ARGV[5] now (ms)
    ARGV[6] chunk (JSON), or '' ('first' without a chunk)
    ARGV[7] length cap (XADD MAXLEN ~)
    ARGV[8] age cap: entries older than this stream id are trimmed (XTRIM MINID ~), or ''

  Output:
    {1, run, id}  begun or written (id: the last entry appended, '' for a close)
    {-1}          TASK_NOT_FOUND
    {-3, status}  TASK_NOT_RUNNING: the task ended
    {-5}          FENCED: the run is not the current one (superseded or cancelled)
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {-1}
end
local op, job, cur = ARGV[1], ARGV[2], ARGV[2] .. ':c'
if op == 'close' then
  if ARGV[3] == '' or redis.call('HGET', KEYS[3], cur) == ARGV[3] then
    redis.call('HSET', KEYS[3], cur, '0')
  end
  -- Closed before it began: no first run may begin after it.
  if redis.call('HEXISTS', KEYS[3], job) == 0 then
    redis.call('HSET', KEYS[3], job, '0')
  end
  return {1, ARGV[3], ''}
end
if status ~= 'active' then
  return {-3, status}
end
local function add(kind, run, data)
  local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'k', kind, 'j', job, 'p', ARGV[4], 'n', run, 'd', data, 't', ARGV[5])
  if ARGV[8] ~= '' then
    redis.call('XTRIM', KEYS[2], 'MINID', '~', ARGV[8])
  end
  return id
end
if op == 'write' then
  if redis.call('HGET', KEYS[3], cur) ~= ARGV[3] then
    return {-5}
  end
  return {1, ARGV[3], add('c', ARGV[3], ARGV[6])}
end
local run
if op == 'first' then
  if redis.call('HEXISTS', KEYS[3], job) == 1 then
    return {-5}
  end
  redis.call('HSET', KEYS[3], job, '1')
  run = '1'
else
  run = tostring(redis.call('HINCRBY', KEYS[3], job, 1))
end
redis.call('HSET', KEYS[3], cur, run)
local id = add('a', run, 'null')
if ARGV[6] ~= '' then
  id = add('c', run, ARGV[6])
end
return {1, run, id}
