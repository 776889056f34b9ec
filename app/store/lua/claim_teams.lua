-- Claim the teams whose work is due, so that of N settlers one works each team at a time. A
-- claimed team is scored at its claim's end: a settler that dies lets it come due again.
-- KEYS[1]  the index of due teams (tenant -> due ms)
-- KEYS[2]  the claims (tenant -> claim token)
-- KEYS[3]  due times asked for while a team was claimed (index_team.lua): a new claim's settler
--          reads the team's work afresh, so they are dropped
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[2]  how long a claim lasts, ms     ARGV[3]  the most teams to claim
-- ARGV[4]  this settler's token prefix (each claim's token is the prefix and a counter)
-- Returns  {tenant, token, tenant, token, ...}
local now_ms = math.floor(clock_us(ARGV[1]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[3]))
local until_ms = string.format('%.0f', now_ms + tonumber(ARGV[2]))
local claimed = {}
for i, tenant in ipairs(due) do
  local token = ARGV[4] .. ':' .. i
  redis.call('ZADD', KEYS[1], until_ms, tenant)
  redis.call('HSET', KEYS[2], tenant, token)
  redis.call('HDEL', KEYS[3], tenant)
  claimed[#claimed + 1] = tenant
  claimed[#claimed + 1] = token
end
return claimed
