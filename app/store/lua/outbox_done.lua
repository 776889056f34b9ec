-- An outbox entry needs no more attempts (delivered, refused for good, or given up): it leaves
-- the outbox, its due time and attempts with it, and its webhook's backlog counts one fewer.
-- KEYS[1]  the team's outbox (stream)    KEYS[2]  its due times    KEYS[3]  its attempts
-- KEYS[4]  its backlog per webhook (_events.lua)
-- ARGV[1]  the entry's id     ARGV[2]  its webhook's id ("" for a budget alert)
-- Returns  1 removed now, 0 it was gone already (another replica finished it)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' and redis.call('HINCRBY', KEYS[4], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[4], ARGV[2])
end
return 1
