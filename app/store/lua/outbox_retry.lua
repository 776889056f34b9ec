-- Note a failed delivery of an outbox entry and when to try it next, if the entry is still there
-- (another replica may have delivered and deleted it meanwhile: then nothing is left behind).
-- KEYS[1]  the team's outbox (stream)     KEYS[2]  its due times (entry id -> ms)
-- KEYS[3]  its attempts (entry id -> "n|next_ms")     KEYS[4]  the team's schedule marker
-- ARGV[1]  the entry's id     ARGV[2]  "attempts|next attempt, ms"
-- ARGV[3]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- Returns  when the team must be indexed as due (_schedule.lua), -1 if it is (or the entry
--          was gone)
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return -1 end
local at = tonumber(string.match(ARGV[2], '|(%d+)$'))
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], at, ARGV[1])
return schedule(KEYS[4], at, math.floor(clock_us(ARGV[3]) / 1000))
