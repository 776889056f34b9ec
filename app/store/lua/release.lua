-- Give back a reservation whose create Rivya definitely refused. Releasing twice is a no-op.
-- KEYS[1]    reservations hash
-- KEYS[2..5] spend hashes of the reservation's day, week, month and total
-- ARGV[1]    reservation id
-- Returns    the credits released (0 if there was nothing to release)
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
local credits = tonumber(string.match(entry, '^(%d+)')) or 0
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 2, 5 do redis.call('HINCRBY', KEYS[i], 'reserved', -credits) end
return credits
