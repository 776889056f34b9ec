-- Set a task's next poll, counted from Redis's clock (a replica whose clock lags must not make
-- a task due at once, and poll Rivya in a tight loop). XX: a task settled meanwhile (and so
-- dequeued) stays dequeued. A reader that polled the task while a settler held the team may set
-- a time earlier than the team is indexed at: the team is then indexed by it (_schedule.lua).
-- KEYS[1]  the team's settle queue     KEYS[2]  the team's schedule marker
-- ARGV[1]  task id     ARGV[2]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[3]  delay until the next poll, ms
-- Returns  index_at (when the team must be indexed as due, -1 if it is or the task is gone)
local now_ms = math.floor(clock_us(ARGV[2]) / 1000)
local at = now_ms + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], 'XX', at, ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
return schedule(KEYS[2], at, now_ms)
