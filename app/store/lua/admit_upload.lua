-- Admit one upload of a team under its upload rate (GCRA: `burst` at once, refilling at
-- `per_minute`), and of a browser-token user under the same rate of its own, atomically across
-- replicas: one user cannot take the team's uploads. A refusal consumes nothing.
-- KEYS[1]  the team's upload-rate state (theoretical arrival time, microseconds)
-- KEYS[2]  the user's own (used when ARGV[4] is "1")
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[2]  uploads per minute     ARGV[3]  burst     ARGV[4]  "1": a browser-token user's upload
-- Returns  0 when admitted, else the milliseconds until one more would be
local now = clock_us(ARGV[1])
local interval = math.floor(60000000 / tonumber(ARGV[2]))
local window = interval * tonumber(ARGV[3])
local buckets = {KEYS[1]}
if ARGV[4] == '1' then buckets[2] = KEYS[2] end
local next_tats = {}
for i, key in ipairs(buckets) do
  local tat = tonumber(redis.call('GET', key) or '') or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > window then return math.ceil((new_tat - window - now) / 1000) end
  next_tats[i] = new_tat
end
for i, key in ipairs(buckets) do
  redis.call('SET', key, string.format('%.0f', next_tats[i]), 'PX', math.ceil(window / 1000) + 1000)
end
return 0
