-- Lease the tasks whose next poll is due, so that of N settlers exactly one polls each task.
-- A leased task's score moves to now + lease: if its settler dies, the lease lapses and another
-- settler takes it over.
-- KEYS[1]  a team's settle queue (sorted set: task id -> next poll time, ms)
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[2]  lease, ms     ARGV[3]  the most to lease at once
-- Returns  the leased members
local now_ms = math.floor(clock_us(ARGV[1]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[3]))
local until_ms = now_ms + tonumber(ARGV[2])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], until_ms, member) end
return due
