-- Index a team as due by `due` (a script that gave it work said so: _schedule.lua), keeping an
-- earlier entry; a settler working the team meanwhile loses its claim, so its release keeps this.
-- KEYS[1]  the index of due teams      KEYS[2]  the claims
-- ARGV[1]  team space     ARGV[2]  due, ms
-- Returns  1
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
