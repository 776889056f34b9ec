-- Set a task's next poll, counted from Redis's clock (a replica whose clock lags must not make
-- a task due at once, and poll Rivya in a tight loop). XX: a task settled meanwhile (and so
-- dequeued) stays dequeued.
-- KEYS[1]  the team's settle queue
-- ARGV[1]  task id     ARGV[2]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[3]  delay until the next poll, ms
-- Returns  1 if rescheduled, 0 if the task was no longer queued
local at = math.floor(clock_us(ARGV[2]) / 1000) + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', at, ARGV[1])
return redis.call('ZSCORE', KEYS[1], ARGV[1]) and 1 or 0
