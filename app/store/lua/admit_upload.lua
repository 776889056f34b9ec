-- Admit one upload of a team under its upload rate (GCRA: `burst` at once, refilling at
-- `per_minute`), atomically across replicas. A refusal consumes nothing.
-- KEYS[1]  the team's upload-rate state (theoretical arrival time, microseconds)
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[2]  uploads per minute     ARGV[3]  burst
-- Returns  0 when admitted, else the milliseconds until one more would be
local now = clock_us(ARGV[1])
local interval = math.floor(60000000 / tonumber(ARGV[2]))
local window = interval * tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > window then return math.ceil((new_tat - window - now) / 1000) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil(window / 1000) + 1000)
return 0
