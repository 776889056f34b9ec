-- Give up on a create whose outcome could not be learned within Rivya's retry window: count
-- its credits as spent (it may have run; the budget must never be under-counted), free its
-- in-flight slot, and make its claim answer with the error from now on. A mark records the
-- abandonment, so that if its task turns up after all (a resend's late answer), record.lua can
-- prove the charge was this one and move it back to a reservation. Charged, its credits are money
-- that really moved: the budget thresholds they take the team past are alerted (_alerts.lua).
-- KEYS[1]    reservations hash
-- KEYS[2..5] spend hashes of the reservation's day, week, month and total
-- KEYS[6]    the idempotency claim hash (unused without a client_request_id)
-- KEYS[7]    pending creates hash
-- KEYS[8]    the reservation's abandonment mark
-- KEYS[9]    the team's ledger (_money.lua)
-- KEYS[10]   the token's own credits hash (used when the reservation names a token)
-- KEYS[11]   the team's policy hash   KEYS[12]  its outbox   KEYS[13]  its schedule marker
-- KEYS[14..17] the key's spend hashes of the same periods (used when the entry names a key)
-- KEYS[18]   beside the mark: the key whose books were charged (record.lua gives it back there)
-- ARGV[1]    reservation id    ARGV[2]  client_request_id ("" if none)
-- ARGV[3]    the error to remember, JSON
-- ARGV[4]    how long the mark is kept, ms (as long as a late answer could still arrive)
-- ARGV[5]    the reservation's period stamps "day|week|month"
-- ARGV[6]    budget alert thresholds ("80,100"; "" for none)
-- ARGV[7]    time: "" for Redis's own, or a fake clock's (_clock.lua)
-- Returns    {credits counted as spent (-1 if the create was no longer pending), index_at}
if redis.call('HDEL', KEYS[7], ARGV[1]) == 0 then return {-1, -1} end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[6], 'res') == ARGV[1] then
  redis.call('HSET', KEYS[6], 'state', 'error', 'error', ARGV[3])
end
local held = reservation_at(KEYS[1], ARGV[1])
if not held then return {0, -1} end
local spend = settle_reservation(held, {reservations = KEYS[1], id = ARGV[1], event = 'abandon',
  periods = {KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, token_hash = KEYS[10], ledger = KEYS[9],
  key_periods = {KEYS[14], KEYS[15], KEYS[16], KEYS[17]},
  spent = held.credits})
for _, key in ipairs(spend) do redis.call('HINCRBY', key, 'tasks_abandoned', 1) end
redis.call('SET', KEYS[8], held.credits, 'PX', ARGV[4])
if held.key ~= '' then redis.call('SET', KEYS[18], held.key, 'PX', ARGV[4]) end
local now_ms = math.floor(clock_us(ARGV[7]) / 1000)
return {held.credits, budget_crossings(KEYS[11], {KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, ARGV[5],
  KEYS[12], KEYS[13], ARGV[6], now_ms)}
