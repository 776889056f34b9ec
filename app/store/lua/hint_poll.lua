-- Rivya said a task changed (its webhook: a hint, never proof): poll it now, unless it has ended
-- here already, is not followed, or was hinted less than the minimum interval ago (a flood of
-- hints, real or forged, polls each task at most once per interval).
-- KEYS[1]  the task hash     KEYS[2]  the team's settle queue     KEYS[3]  its schedule marker
-- ARGV[1]  task id     ARGV[2]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[3]  the least time between two hinted polls of a task, ms
-- Returns  {outcome, index_at}: outcome 1 due now, 0 hinted too recently, -1 ended or not
--          followed, -2 no such task; index_at when the team must be indexed (-1: it is)
local now_ms = math.floor(clock_us(ARGV[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'status', 'hinted_ms')
if not state[1] then return {-2, -1} end
if state[1] == 'succeeded' or state[1] == 'failed' then return {-1, -1} end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {-1, -1} end
local last = tonumber(state[2] or '')
if last and now_ms - last < tonumber(ARGV[3]) then return {0, -1} end
redis.call('HSET', KEYS[1], 'hinted_ms', now_ms)
redis.call('ZADD', KEYS[2], 'XX', 'LT', now_ms, ARGV[1])
return {1, schedule(KEYS[3], now_ms, now_ms)}
