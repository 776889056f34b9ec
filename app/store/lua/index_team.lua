-- Index a team as due by `due` (a script that gave it work said so: _schedule.lua), keeping an
-- earlier entry. A team a settler is working now keeps its claim (one settler a team at a
-- time): the due time waits beside it, and that settler's release keeps the earlier one.
-- KEYS[1]  the index of due teams      KEYS[2]  the claims      KEYS[3]  due times asked for
--          while a team was claimed (tenant -> ms)
-- ARGV[1]  tenant     ARGV[2]  due, ms
-- Returns  1 indexed, 0 left beside the claim
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  local asked = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '')
  if not asked or tonumber(ARGV[2]) < asked then redis.call('HSET', KEYS[3], ARGV[1], ARGV[2]) end
  return 0
end
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
return 1
