-- Take (or give up) the lease on a pending create whose outcome is still unknown, so that only
-- one party at a time resends it with its upstream key: a client's retry, or a settler.
-- KEYS[1]  pending creates hash
-- ARGV[1]  reservation id
-- ARGV[2]  now, ms
-- ARGV[3]  lease until, ms
-- ARGV[4]  "take": only if nobody holds it | "hand_back": only by its holder (0 or a time soon
--          lets the next taker in)
-- ARGV[5]  the caller's owner token
-- Returns  the create's JSON when the lease was taken or handed back; nil when someone else
--          holds it, or the create is no longer pending
local pending = redis.call('HGET', KEYS[1], ARGV[1])
if not pending then return nil end
local create = cjson.decode(pending)
if ARGV[4] == 'take' and create.lease_until_ms > tonumber(ARGV[2]) then return nil end
-- A holder that paused past its lease must not hand back one another has since taken.
if ARGV[4] == 'hand_back' and create.lease_owner ~= ARGV[5] then return nil end
create.lease_until_ms = tonumber(ARGV[3])
create.lease_owner = ARGV[5]
local encoded = cjson.encode(create)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
return encoded
