-- Note that one file of a succeeded task is copied (its object written first): the task names
-- its copy, the team's kept copies count it (once per content: content addressed, a copy shared
-- by two tasks is counted once and kept as long as the later needs it), and once every file of
-- the task is copied its custody is "kept" and it leaves the settle queue.
-- KEYS[1]  task hash     KEYS[2]  the team's kept copies (sorted set: "sha256|bytes" -> until, ms)
-- KEYS[3]  the team's results usage hash (bytes, objects)
-- KEYS[4]  the team's settle queue        KEYS[5]  the team's schedule marker (_schedule.lua)
-- ARGV[1]  task id    ARGV[2]  the file's index    ARGV[3]  its copy, "sha256|bytes|type"
-- ARGV[4]  how many files the task has          ARGV[5]  until when it is kept, ms
-- ARGV[6]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- Returns  {custody ("kept", "copying", or "gone": the task's record is gone), index_at}
local now_ms = math.floor(clock_us(ARGV[6]) / 1000)
local sha, size = string.match(ARGV[3], '^([^|]+)|(%d+)|')
local member = sha .. '|' .. size
if redis.call('ZSCORE', KEYS[2], member) then
  redis.call('ZADD', KEYS[2], 'GT', ARGV[5], member)
else
  redis.call('ZADD', KEYS[2], ARGV[5], member)
  redis.call('HINCRBY', KEYS[3], 'bytes', size)
  redis.call('HINCRBY', KEYS[3], 'objects', 1)
end
-- The copy is deleted when its time comes: the team is indexed by then.
local index_at = schedule(KEYS[5], tonumber(ARGV[5]), now_ms)
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone', index_at} end
redis.call('HSET', KEYS[1], 'kept:' .. ARGV[2], ARGV[3])
for i = 0, tonumber(ARGV[4]) - 1 do
  if redis.call('HEXISTS', KEYS[1], 'kept:' .. i) == 0 then return {'copying', index_at} end
end
redis.call('HSET', KEYS[1], 'custody', 'kept')
redis.call('ZREM', KEYS[4], ARGV[1])
return {'kept', index_at}
