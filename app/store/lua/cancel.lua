-- Cancel an admission whose answer its request never got (Redis stalled past the client's
-- timeout, the connection broke): that request never sent the create, so it must never be sent,
-- and its credits come back. If admit.lua has not run yet, a mark makes it refuse when it does.
-- KEYS[1]    reservations hash
-- KEYS[2..5] spend hashes of the reservation's day, week, month and total
-- KEYS[6]    the idempotency claim hash (unused without a client_request_id)
-- KEYS[7]    pending creates hash
-- KEYS[8]    the reservation's cancel mark (admit.lua's KEYS[10])
-- KEYS[9]    the team's ledger (_money.lua)
-- KEYS[10]   the token's own credits hash (used when the reservation names a token)
-- KEYS[11..14] the key's spend hashes of the same periods (used when the entry names a key)
-- ARGV[1]    reservation id    ARGV[2]  client_request_id ("" if none)
-- ARGV[3]    the request's lease owner token
-- ARGV[4]    how long the mark is kept, ms (longer than any admission could be delayed)
-- Returns    "cancelled": admitted, now undone | "void": never admitted, and now never will be
--            | "taken": someone else holds the create now (it may be sent: not cancelled)
--            | "other": never admitted, but the key names another request's create (a repeat,
--            or a takeover of a lost create, whose lease is handed back at once): that one may
--            be, or have been, sent
local pending = redis.call('HGET', KEYS[7], ARGV[1])
if not pending then
  if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'taken' end
  redis.call('SET', KEYS[8], '1', 'PX', ARGV[4])
  local claimed = ARGV[2] ~= '' and redis.call('HGET', KEYS[6], 'res')
  if not claimed or claimed == ARGV[1] then return 'void' end
  local other = redis.call('HGET', KEYS[7], claimed)
  if other then
    local create = cjson.decode(other)
    if create.lease_owner == ARGV[3] then
      -- This request took the lost create over and will never send it: the next taker may.
      create.lease_until_ms = 0
      redis.call('HSET', KEYS[7], claimed, cjson.encode(create))
    end
  end
  return 'other'
end
local create = cjson.decode(pending)
if create.lease_owner ~= ARGV[3] then return 'taken' end
redis.call('HDEL', KEYS[7], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[6], 'res') == ARGV[1] then
  redis.call('DEL', KEYS[6])
end
settle_reservation(reservation_at(KEYS[1], ARGV[1]), {reservations = KEYS[1], id = ARGV[1],
  event = 'cancel', periods = {KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, token_hash = KEYS[10],
  key_periods = {KEYS[11], KEYS[12], KEYS[13], KEYS[14]},
  ledger = KEYS[9]})
return 'cancelled'
