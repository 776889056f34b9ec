-- Give back a reservation whose create Rivya definitely refused, and settle its claim: an error
-- about the request itself is remembered (a replay gets the same answer), a passing one (Rivya
-- unavailable, rate limited, out of credits) is forgotten so a retry runs again. Releasing twice
-- is a no-op.
-- KEYS[1]    reservations hash
-- KEYS[2..5] spend hashes of the reservation's day, week, month and total
-- KEYS[6]    the idempotency claim hash (unused without a client_request_id)
-- KEYS[7]    pending creates hash
-- KEYS[8]    the team's ledger (_money.lua)
-- KEYS[9]   the token's own credits hash (used when the reservation names a token)
-- KEYS[10..13] the key's spend hashes of the same periods (used when the entry names a key)
-- ARGV[1]    reservation id
-- ARGV[2]    client_request_id ("" for none)
-- ARGV[3]    the error to remember, JSON ("" to forget the claim instead)
-- ARGV[4]    the caller's lease owner token
-- Returns    the credits released (0 if there was nothing to release)
-- Only the holder of a create still pending can release it: a late release after it was
-- recorded, given up or taken over (a lease that lapsed mid-call) must touch neither the claim
-- nor the money.
local pending = redis.call('HGET', KEYS[7], ARGV[1])
if not pending or cjson.decode(pending).lease_owner ~= ARGV[4] then return 0 end
redis.call('HDEL', KEYS[7], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[6], 'res') == ARGV[1] then
  if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[6], 'state', 'error', 'error', ARGV[3])
  else
    redis.call('DEL', KEYS[6])
  end
end
local held = reservation_at(KEYS[1], ARGV[1])
settle_reservation(held, {reservations = KEYS[1], id = ARGV[1], event = 'release',
  periods = {KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, token_hash = KEYS[9],
  key_periods = {KEYS[10], KEYS[11], KEYS[12], KEYS[13]}, ledger = KEYS[8]})
return held and held.credits or 0
