-- Set or remove one key's own credit budget (admit.lua reads it on every create).
-- KEYS[1]  the team's key budgets hash (key id -> "credits|period")
-- ARGV[1]  key id      ARGV[2]  "credits|period", or "" to remove the key's budget
-- Returns  1
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return 1
