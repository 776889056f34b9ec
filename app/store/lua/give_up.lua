-- Stop waiting for a task Rivya never ended (or no longer knows): count its held credits as
-- spent (never refunded: it may have run) and free its in-flight slot. It stays queued, polled
-- rarely, so that if Rivya reports its end after all, observe.lua corrects the charge to
-- final_credits. Its age is judged by Redis's clock, from when it was recorded.
-- KEYS[1]    task hash
-- KEYS[2]    reservations hash
-- KEYS[3..6] spend hashes of the task's day, week, month and total
-- KEYS[7]    the team's settle queue
-- KEYS[8]    the team's ledger (_money.lua)
-- KEYS[9]    the token's own credits hash (used when the reservation names a token)
-- KEYS[10..13] the key's spend hashes of the task's periods (used when its money is in them)
-- ARGV[1]    task id
-- ARGV[2]    time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[3]    the age past which a task is given up, ms
-- ARGV[4]    how soon to look again at a task given up, ms
-- Returns    the credits counted as spent; -1 if it had ended or was given up already;
--            -2 if it is not that old yet (by Redis's clock)
local now_ms = math.floor(clock_us(ARGV[2]) / 1000)
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed' then
  redis.call('ZREM', KEYS[7], ARGV[1])
  return -1
end
if redis.call('HEXISTS', KEYS[1], 'given_up') == 1 then
  redis.call('ZADD', KEYS[7], 'XX', now_ms + tonumber(ARGV[4]), ARGV[1])
  return -1
end
local created = tonumber(redis.call('HGET', KEYS[1], 'created_ms') or '') or 0
if now_ms - created < tonumber(ARGV[3]) then return -2 end
local reservation = reservation_at(KEYS[2], ARGV[1])
local held = reservation and reservation.credits or 0
-- Charged what it held; given up even with no hold left, so that its end corrects the charge.
local spend = settle_reservation(reservation, {reservations = KEYS[2], id = ARGV[1],
  event = 'give_up', task = ARGV[1], periods = {KEYS[3], KEYS[4], KEYS[5], KEYS[6]},
  key_periods = {KEYS[10], KEYS[11], KEYS[12], KEYS[13]},
  token_hash = KEYS[9], ledger = KEYS[8], spent = held, always = true,
  token = redis.call('HGET', KEYS[1], 'token') or '',
  key = redis.call('HGET', KEYS[1], 'books_key') or '',
  model = redis.call('HGET', KEYS[1], 'model')
    or cjson.decode(redis.call('HGET', KEYS[1], 'upstream') or '{}').model})
for _, key in ipairs(spend) do redis.call('HINCRBY', key, 'tasks_abandoned', 1) end
redis.call('HSET', KEYS[1], 'given_up', held)
redis.call('ZADD', KEYS[7], 'XX', now_ms + tonumber(ARGV[4]), ARGV[1])
return held
