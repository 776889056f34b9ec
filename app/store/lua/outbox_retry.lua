-- Note a failed delivery of an outbox entry and when to try it next, if the entry is still there
-- (another settler may have delivered and deleted it meanwhile: then nothing is left behind).
-- KEYS[1]  the team's outbox (stream)     KEYS[2]  its attempts (entry id -> "n|next_ms")
-- ARGV[1]  the entry's id     ARGV[2]  "attempts|next attempt, ms"
-- Returns  1 noted, 0 the entry was gone
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
