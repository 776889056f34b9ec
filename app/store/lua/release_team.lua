-- A settler is done with a team: index it at its next due time (team_next_due.lua), or at a due
-- time a script asked for while it worked (index_team.lua) if that is earlier, or take it out of
-- the index when it has nothing left. A claim no longer this settler's (it lapsed, another took
-- the team) only lowers the team's time.
-- KEYS[1]  the index of due teams      KEYS[2]  the claims      KEYS[3]  due times asked for
-- ARGV[1]  tenant     ARGV[2]  the claim's token     ARGV[3]  next due, ms (-1: nothing)
-- Returns  1 if the claim was still this settler's, else 0
local next_ms = tonumber(ARGV[3])
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
  local asked = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '')
  redis.call('HDEL', KEYS[3], ARGV[1])
  if asked and (next_ms < 0 or asked < next_ms) then next_ms = asked end
  if next_ms < 0 then
    redis.call('ZREM', KEYS[1], ARGV[1])
  else
    redis.call('ZADD', KEYS[1], string.format('%.0f', next_ms), ARGV[1])
  end
  return 1
end
if next_ms >= 0 then redis.call('ZADD', KEYS[1], 'LT', string.format('%.0f', next_ms), ARGV[1]) end
return 0
