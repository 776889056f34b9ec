-- Attach a reservation to the task Rivya created: store the task, close the pending create and
-- complete the idempotency claim. The reservation follows the task (re-keyed by task id, still
-- holding its in-flight slot) at the credits Rivya says it holds; a task Rivya already reports
-- ended (a resend answered with a finished task) is settled here and then.
-- A refund needs proof. A task whose create was given up as spent (abandon.lua left a mark)
-- takes those credits back as its reservation, consuming the mark. Any other task recorded
-- without a live reservation (a second task for one create, an admission lost with Redis's
-- data) is charged as new spend, and reported as an anomaly.
-- A task attached to its reservation is money that really moved: the budget thresholds it takes
-- the team past are written to the team's outbox here (_alerts.lua). Recording twice is a no-op.
-- KEYS[1]    task hash
-- KEYS[2]    reservations hash
-- KEYS[3]    the team's task index (sorted set, score = created ms)
-- KEYS[4..7] spend hashes of the reservation's day, week, month and total
-- KEYS[8]    the team's settle queue (sorted set: task id -> next poll, ms)
-- KEYS[9]    the idempotency claim hash (unused without a client_request_id)
-- KEYS[10]   pending creates hash
-- KEYS[11]   the reservation's abandonment mark (abandon.lua)
-- KEYS[12]   the team's ledger (_money.lua)
-- KEYS[13]   the token's own credits hash (used when the reservation names a token)
-- KEYS[14]   the team's policy hash (its budget, for alerts)
-- KEYS[15]   the team's outbox        KEYS[16]  the team's schedule marker (_schedule.lua)
-- KEYS[17..20] the key's spend hashes of the reservation's day, week, month and total (used
--            when the task's money is in its key's books: see `books_key` below)
-- KEYS[21]   beside the abandonment mark: the key an abandoned hold was charged to
-- KEYS[22]   the team's webhooks (a task recorded ended has its event written: _events.lua)
-- ARGV[1]    reservation id          ARGV[2]  task id
-- ARGV[3]    status                  ARGV[4]  Rivya's task JSON
-- ARGV[5]    credits the task holds (Rivya's reserved_credits, else the catalogue's)
-- ARGV[6]    client_request_id ("" if none)   ARGV[7]  key id ("" if none)
-- ARGV[8]    time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[9]    task retention, seconds
-- ARGV[10]   period stamps "day|week|month"
-- ARGV[11]   delay until the first poll, ms
-- ARGV[12]   final_credits (used when the status is terminal); -1 when Rivya gave no valid
--            figure: the task is then charged what it holds, as an anomaly ("unpriced")
-- ARGV[13]   the task's model
-- ARGV[14]   the browser token's subject ("" for a team key): only it (and the team's keys)
--            may see the task        ARGV[15]  the token id whose cap it counts against ("")
-- ARGV[16]   budget alert thresholds, percent ("80,100"; "" for no alerts)
-- Returns    {outcome, anomaly, index_at}: outcome 1 recorded, 2 recorded and settled, -1
--            recorded already; anomaly 1 when the task had no live reservation, 2 when it ended
--            with no valid final_credits (charged what it holds); index_at: when the team must be
--            indexed as due (_schedule.lua), -1 if it is
local now_ms = math.floor(clock_us(ARGV[8]) / 1000)
redis.call('HDEL', KEYS[10], ARGV[1])
local claim = ARGV[6] ~= '' and redis.call('HMGET', KEYS[9], 'res', 'state')
if claim and claim[1] == ARGV[1] and claim[2] ~= 'done' then
  redis.call('HSET', KEYS[9], 'state', 'done', 'task', ARGV[2])
  redis.call('HDEL', KEYS[9], 'error')
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, 0, -1} end

local periods = {KEYS[4], KEYS[5], KEYS[6], KEYS[7]}
local key_periods = {KEYS[17], KEYS[18], KEYS[19], KEYS[20]}
local held_by = redis.call('HMGET', KEYS[2], ARGV[1], ARGV[2])  -- this create's hold; the task's
local entry = held_by[1]
if held_by[2] then
  -- The task already holds a reservation (its record was lost, and a resend found the same
  -- task): one task, one reservation. This create's own hold goes back; that is proven.
  settle_reservation(entry and reservation_of(entry), {reservations = KEYS[2], id = ARGV[1],
    event = 'release', task = ARGV[2], periods = periods, token_hash = KEYS[13],
    key_periods = key_periods, ledger = KEYS[12]})
  -- Rivya may say it has ended: it is written as still running and polled now, so that
  -- observe.lua settles the hold it kept (and writes its end for the webhooks) as for any task.
  local kept = reservation_of(redis.call('HGET', KEYS[2], ARGV[2]))
  local status = ARGV[3]
  if status == 'succeeded' or status == 'failed' then status = 'processing' end
  redis.call('HSET', KEYS[1], 'status', status, 'upstream', ARGV[4], 'client_request_id',
    ARGV[6], 'key_id', ARGV[7], 'created_ms', kept.created_ms, 'stamps', ARGV[10],
    'reserved', ARGV[5], 'model', ARGV[13], 'subject', ARGV[14], 'token', kept.token,
    'books_key', kept.key)
  redis.call('EXPIRE', KEYS[1], ARGV[9])
  redis.call('ZADD', KEYS[8], now_ms, ARGV[2])
  return {-1, 0, schedule(KEYS[16], now_ms, now_ms)}
end
-- The task's money is in its key's books unless its hold was made before keys had books (an
-- entry naming no key). With no hold left: a hold abandoned as spent was charged to the key
-- named beside its mark (none for an old one); a task recorded unreserved is charged to its key.
local books_key = ARGV[7]
if entry then
  books_key = reservation_of(entry).key
elseif redis.call('EXISTS', KEYS[11]) == 1 then
  books_key = redis.call('GET', KEYS[21]) or ''
end
local spend = books(periods, ARGV[15], KEYS[13], books_key, key_periods)
local held, anomaly = 0, 0
if entry then
  held = reservation_of(entry).credits
else
  local abandoned = tonumber(redis.call('GET', KEYS[11]) or '')
  if abandoned then
    -- Charged as spent when given up; it held those credits, so they are held again.
    redis.call('DEL', KEYS[11], KEYS[21])
    held = abandoned
    move(spend, KEYS[12], 'reclaim', ARGV[1], ARGV[2], ARGV[13], held, -held)
    for _, key in ipairs(spend) do redis.call('HINCRBY', key, 'tasks_abandoned', -1) end
  else
    anomaly = 1
  end
end
redis.call('HDEL', KEYS[2], ARGV[1])
local actual = tonumber(ARGV[5])
local terminal = ARGV[3] == 'succeeded' or ARGV[3] == 'failed'
local final = tonumber(ARGV[12])
if terminal and final < 0 then
  final = actual
  if anomaly == 0 then anomaly = 2 end
end
-- An unreserved task is an anomaly whatever it does to the money: it is always in the ledger.
if terminal then
  local event = ({[0] = 'settle', [1] = 'unreserved', [2] = 'unpriced'})[anomaly]
  move(spend, KEYS[12], event, ARGV[2], ARGV[2], ARGV[13], -held, final)
elseif actual ~= held or anomaly == 1 then
  move(spend, KEYS[12], anomaly == 1 and 'unreserved' or 'adjust', ARGV[2], ARGV[2], ARGV[13],
    actual - held, 0)
end
for _, key in ipairs(spend) do
  redis.call('HINCRBY', key, 'tasks_created', '1')
  if anomaly == 1 then redis.call('HINCRBY', key, 'tasks_unreserved', '1') end
  if terminal then redis.call('HINCRBY', key, 'tasks_' .. ARGV[3], '1') end
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'upstream', ARGV[4], 'client_request_id', ARGV[6],
  'key_id', ARGV[7], 'created_ms', whole(now_ms), 'stamps', ARGV[10],
  'reserved', whole(actual), 'model', ARGV[13], 'subject', ARGV[14], 'token', ARGV[15],
  'books_key', books_key)
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[3], whole(now_ms), ARGV[2])
-- The index lives as long as the tasks it points to.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', whole(now_ms - tonumber(ARGV[9]) * 1000))
local function earliest(a, b)
  if a >= 0 and (b < 0 or a < b) then return a end
  return b
end
if terminal then
  redis.call('HSET', KEYS[1], 'final_credits', final)
  local index_at = budget_crossings(KEYS[14], periods, ARGV[10], KEYS[15], KEYS[16], ARGV[16],
    now_ms)
  index_at = earliest(announce(KEYS[22], KEYS[15], KEYS[16], now_ms, 'generation.' .. ARGV[3],
    ARGV[2]), index_at)
  if ARGV[3] == 'succeeded' and type(cjson.decode(ARGV[4]).result) == 'table' then
    -- Its results are copied next (custody), as observe.lua leaves a task that succeeds.
    redis.call('HSET', KEYS[1], 'custody', 'copying')
    redis.call('ZADD', KEYS[8], now_ms + tonumber(ARGV[11]), ARGV[2])
    index_at = earliest(schedule(KEYS[16], now_ms + tonumber(ARGV[11]), now_ms), index_at)
  end
  return {2, anomaly, index_at}
end
redis.call('HSET', KEYS[2], ARGV[2],
  reservation_entry(actual, ARGV[10], now_ms, ARGV[13], ARGV[15], true, books_key))
attach(periods, actual)
local index_at = budget_crossings(KEYS[14], periods, ARGV[10], KEYS[15], KEYS[16], ARGV[16],
  now_ms)
local first_poll = now_ms + tonumber(ARGV[11])
redis.call('ZADD', KEYS[8], whole(first_poll), ARGV[2])
return {1, anomaly, earliest(schedule(KEYS[16], first_poll, now_ms), index_at)}
