-- Take (or hand back) the lease on a pending create whose outcome is still unknown, so that only
-- one party at a time resends it with its upstream key: a client's retry, or a resolver.
-- KEYS[1]  pending creates hash      KEYS[2]  the team's schedule marker (_schedule.lua)
-- ARGV[1]  reservation id
-- ARGV[2]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[3]  "take": only if nobody holds it | "hand_back": only by its holder
-- ARGV[4]  the caller's owner token
-- ARGV[5]  take: how long the lease lasts, ms | hand_back: how soon the next taker may take it
-- ARGV[6]  take: the oldest a create may be and still be resent (Rivya's window less a lease), ms
-- Returns  {"taken", create JSON} | {"too_late", create JSON}: too old to resend safely, not
--          taken | {"handed_back", index_at} | {} when someone else holds it or it is no longer
--          pending (index_at: when the team must be indexed as due, -1 if it is: the next taker
--          may take the create then)
local pending = redis.call('HGET', KEYS[1], ARGV[1])
if not pending then return {} end
local create = cjson.decode(pending)
local now_ms = math.floor(clock_us(ARGV[2]) / 1000)
if ARGV[3] == 'take' then
  local outcome, detail = take_lease(KEYS[1], ARGV[1], create, ARGV[4], tonumber(ARGV[5]),
    tonumber(ARGV[6]), now_ms)
  if outcome == 'held' then return {} end
  if outcome == 'too_late' then return {'too_late', pending} end
  return {'taken', detail}
end
-- A holder that paused past its lease must not hand back one another has since taken.
if create.lease_owner ~= ARGV[4] then return {} end
lease_to(create, ARGV[4], tonumber(ARGV[5]), now_ms)
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(create))
return {'handed_back', schedule(KEYS[2], create.lease_until_ms, now_ms)}
