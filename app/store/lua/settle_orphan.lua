-- Settle the reservation of a task whose record is gone (evicted, or lost with Redis's data)
-- so that its credits and in-flight slot never stay held for good: at Rivya's final_credits when
-- Rivya could say, else at what it held (it may have run; never refunded without proof).
-- The caller read the reservation entry first, to learn its period stamps; the script acts only
-- if the entry is still that one.
-- KEYS[1]    reservations hash
-- KEYS[2..5] spend hashes of the entry's day, week, month and total
-- KEYS[6]    the team's settle queue
-- KEYS[7]    the task hash (it must still be gone: a task recorded again is no orphan)
-- KEYS[8]    the team's ledger (_money.lua)
-- KEYS[9]   the token's own credits hash (used when the reservation names a token)
-- KEYS[10..13] the key's spend hashes of the same periods (used when the entry names a key)
-- ARGV[1]    task id
-- ARGV[2]    the reservation entry as read ("credits|stamps|created_ms")
-- KEYS[14]   the team's webhooks     KEYS[15]  its outbox     KEYS[16]  its schedule marker
-- ARGV[3]    the credits to charge: Rivya's final_credits, or -1 for "what it held"
-- ARGV[4]    Rivya's status of the task ("" when it could not say): an end is written for the
--            team's webhooks (_events.lua), as observe.lua writes one
-- ARGV[5]    time: "" for Redis's own, or a fake clock's (_clock.lua)
-- Returns    {the credits charged, or -1 if the entry had changed or gone; index_at}
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current ~= ARGV[2] or redis.call('EXISTS', KEYS[7]) == 1 then
  -- Gone: only the queue entry is left. Changed: the task was recorded again; leave it be.
  if not current then redis.call('ZREM', KEYS[6], ARGV[1]) end
  return {-1, -1}
end
redis.call('ZREM', KEYS[6], ARGV[1])
local held = reservation_of(ARGV[2])
local charge = tonumber(ARGV[3])
if charge < 0 then charge = held.credits end
local spend = settle_reservation(held, {reservations = KEYS[1], id = ARGV[1], event = 'orphan',
  task = ARGV[1], periods = {KEYS[2], KEYS[3], KEYS[4], KEYS[5]}, token_hash = KEYS[9],
  key_periods = {KEYS[10], KEYS[11], KEYS[12], KEYS[13]},
  ledger = KEYS[8], spent = charge})
for _, key in ipairs(spend) do redis.call('HINCRBY', key, 'tasks_orphaned', 1) end
local index_at = -1
if ARGV[4] == 'succeeded' or ARGV[4] == 'failed' then
  index_at = announce(KEYS[14], KEYS[15], KEYS[16], math.floor(clock_us(ARGV[5]) / 1000),
    'generation.' .. ARGV[4], ARGV[1])
end
return {charge, index_at}
