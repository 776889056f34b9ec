-- Record Rivya's latest view of a task, only ever forward; when that view is terminal, settle
-- the reservation to Rivya's final_credits in the same step (a failed task's is 0) and free the
-- in-flight slot. A terminal task is never written again, so settling twice is a no-op. A
-- succeeded task stays in the settle queue, its custody "copying", until its results are
-- copied (keep_result.lua). The task's end is written for the team's webhooks (_events.lua).
-- A charge is never silently zero: a terminal task whose final_credits Rivya did not give
-- validly (absent, null, negative: ARGV[4] = -1) stays charged what it held, as an anomaly (the
-- ledger's "unpriced" event, a suspect for the reconciliation).
-- KEYS[1]    task hash
-- KEYS[2]    reservations hash
-- KEYS[3..6] spend hashes of the task's day, week, month and total (from its stamps)
-- KEYS[7]    the team's settle queue
-- KEYS[8]    the team's ledger (_money.lua)
-- KEYS[9]    the token's own credits hash (used when the reservation names a token)
-- KEYS[10..13] the key's spend hashes of the task's periods (used when its money is in them)
-- KEYS[14]   the team's webhooks     KEYS[15]  its outbox     KEYS[16]  its schedule marker
-- ARGV[1]    task id     ARGV[2]  status     ARGV[3]  Rivya's task JSON
-- ARGV[4]    final_credits, -1 when Rivya gave no valid figure
-- ARGV[5]    time: "" for Redis's own, or a fake clock's (_clock.lua)
-- Returns    {outcome, index_at}: outcome 2 settled now, 3 settled now at what it held
--            (unpriced), 1 progress recorded, 0 nothing newer (or already settled), -1 no such
--            task; index_at: when the team must be indexed as due (its events), -1 if it is
local rank = {queued = 0, processing = 1, succeeded = 2, failed = 2}
local current = redis.call('HGET', KEYS[1], 'status')
if not current then
  redis.call('ZREM', KEYS[7], ARGV[1])
  return {-1, -1}
end
local old, new = rank[current] or 0, rank[ARGV[2]] or 0
if old >= 2 then
  -- Ended: it stays queued only while its results are being copied (custody).
  if redis.call('HGET', KEYS[1], 'custody') ~= 'copying' then
    redis.call('ZREM', KEYS[7], ARGV[1])
  end
  return {0, -1}
end
if new < old then return {0, -1} end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'upstream', ARGV[3])
if new < 2 then return {1, -1} end

local held = reservation_at(KEYS[2], ARGV[1])
-- A task given up on was charged what it held (its hold is gone); its real end corrects that.
local given_up = tonumber(redis.call('HGET', KEYS[1], 'given_up') or '')
local final, event = tonumber(ARGV[4]), given_up and 'correct' or 'settle'
if final < 0 then
  final, event = given_up or (held and held.credits or 0), 'unpriced'
end
local spend = settle_reservation(held, {reservations = KEYS[2], id = ARGV[1], event = event,
  task = ARGV[1], periods = {KEYS[3], KEYS[4], KEYS[5], KEYS[6]},
  key_periods = {KEYS[10], KEYS[11], KEYS[12], KEYS[13]}, token_hash = KEYS[9],
  ledger = KEYS[8], spent = final - (given_up or 0), always = true,
  token = redis.call('HGET', KEYS[1], 'token') or '',
  key = redis.call('HGET', KEYS[1], 'books_key') or '',
  -- Tasks recorded before the model was kept with them: Rivya's own view names it.
  model = redis.call('HGET', KEYS[1], 'model') or cjson.decode(ARGV[3]).model})
for _, key in ipairs(spend) do
  if given_up then redis.call('HINCRBY', key, 'tasks_abandoned', -1) end
  redis.call('HINCRBY', key, 'tasks_' .. ARGV[2], 1)
end
redis.call('HSET', KEYS[1], 'final_credits', final)
if ARGV[2] == 'succeeded' and type(cjson.decode(ARGV[3]).result) == 'table' then
  -- Its results are copied next (custody): it stays queued, due as it is, until they are.
  redis.call('HSET', KEYS[1], 'custody', 'copying')
else
  redis.call('ZREM', KEYS[7], ARGV[1])
end
local index_at = announce(KEYS[14], KEYS[15], KEYS[16], math.floor(clock_us(ARGV[5]) / 1000),
  'generation.' .. ARGV[2], ARGV[1])
return {event == 'unpriced' and 3 or 2, index_at}
