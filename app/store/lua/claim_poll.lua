-- Claim one task's next poll for a reader, if it is due: the same schedule the settlers keep,
-- so all readers, waiters and settlers of every replica together ask Rivya about a task no more
-- often than its schedule says (first after 2-3 s, then every 5-10 s).
-- KEYS[1]  the team's settle queue (task id -> next poll, ms)
-- ARGV[1]  task id     ARGV[2]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[3]  lease, ms: how long the claimer has to poll and reschedule it
-- Returns  1 if claimed (the caller polls now), 0 if not due, being polled, or not queued
local now_ms = math.floor(clock_us(ARGV[2]) / 1000)
local due = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '')
if not due or due > now_ms then return 0 end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
return 1
