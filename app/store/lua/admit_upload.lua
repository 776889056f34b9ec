-- Admit one upload of a team under its upload rate (GCRA: `burst` at once, refilling at
-- `per_minute`), and of a browser-token user under the same rate of its own, atomically across
-- replicas: one user cannot take the team's uploads. A refusal consumes nothing.
-- KEYS[1]  the team's upload-rate state (theoretical arrival time, microseconds)
-- KEYS[2]  the user's own (used when ARGV[4] is "1")
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[2]  uploads per minute     ARGV[3]  burst     ARGV[4]  "1": a browser-token user's upload
-- Returns  0 when admitted, else the milliseconds until one more would be
local now = clock_us(ARGV[1])
local per_minute, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local buckets = {rate_take(KEYS[1], per_minute, burst, now)}
if ARGV[4] == '1' then buckets[2] = rate_take(KEYS[2], per_minute, burst, now) end
for _, bucket in ipairs(buckets) do
  if bucket.wait_ms then return bucket.wait_ms end
end
for _, bucket in ipairs(buckets) do rate_keep(bucket) end
return 0
