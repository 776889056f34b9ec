-- Admit one create, or refuse it, or recognise it as a repeat: idempotency claim, credit budget,
-- rate limit (GCRA with burst) and in-flight cap decided together, atomically. Nothing of the
-- money or the limits is written unless every check passes, so a refusal consumes no rate, no
-- slot and no credit, and a repeat can never reserve twice; a refusal is only counted (for ops).
-- The first create of a period refused for budget writes a budget alert to the team's outbox
-- (_alerts.lua); thresholds are crossed where money really moves (record.lua, abandon.lua), not
-- here: an admission may yet be undone, and a refusal moves nothing.
-- KEYS[1]    team hash (policy: budget_credits, budget_period, rate_limit_per_minute, burst,
--            max_in_flight; read here so an admin change applies to the very next create)
-- KEYS[2]    rate limiter state: the GCRA theoretical arrival time, in microseconds
-- KEYS[3]    reservations hash: reservation or task id -> "credits|stamps|created_ms"
-- KEYS[4..7] spend hashes of the current day, week, month and total (fields: spent, reserved)
-- KEYS[8]    the idempotency claim hash of (team, client_request_id); unused without one
-- KEYS[9]    pending creates hash: reservation id -> JSON of the upstream create to (re)send
-- KEYS[10]   this reservation's cancel mark (set by cancel.lua when its request lost this
--            script's answer and cancelled before it ran: then it must not run at all)
-- KEYS[11]   the team's active keys (a set of key ids: revoked keys are taken out)
-- KEYS[12]   the team's ledger (a stream: _money.lua)
-- KEYS[13]   the team's browser-token revocations (subject or "*" -> not before, s)
-- KEYS[14]   the subject's GCRA rate state (a browser token's end user)
-- KEYS[15]   the browser token's own credits hash (spent, reserved), for its cap
-- KEYS[16]   the team's schedule marker (_schedule.lua)     KEYS[17]  the team's outbox
-- KEYS[18]   the team's key expiries (key id -> expires, ms; a key without one is not in it)
-- KEYS[19]   the team's key budgets (key id -> "credits|period"; a key without one is not in it)
-- KEYS[20..23] the key's spend hashes of the current day, week, month and total
-- ARGV[1]    time: "" for Redis's own, or a test's fake clock's, microseconds (_clock.lua)
-- ARGV[2]    credits to reserve
-- ARGV[3]    reservation id
-- ARGV[4]    period stamps "day|week|month" (stored with the reservation)
-- ARGV[5]    TTL of the day/week/month spend hashes, seconds
-- ARGV[6]    client_request_id ("" for none)
-- ARGV[7]    request fingerprint
-- ARGV[8]    claim lifetime, ms
-- ARGV[9]    the pending create, JSON (this script adds created_ms, lease_until_ms, lease_owner)
-- ARGV[10]   lease on a create being forwarded, ms
-- ARGV[11]   the oldest a lost create may be and still be resent (Rivya's window less a lease), ms
-- ARGV[12]   this request's lease owner token
-- ARGV[13]   the caller's key id      ARGV[14]  the team generation the key was issued for
-- ARGV[15]   the model
-- ARGV[16]   budget alert thresholds, percent, comma-separated ("80,100"; "" for no alerts)
-- ARGV[17]   the browser token's subject ("" for a team key)
-- ARGV[18]   the token's issued-at time, ms      ARGV[19]  the subject's creates per minute (0: none)
-- ARGV[20]   the token's credit cap (-1: none)   ARGV[21]  the token id ("" for a team key)
-- ARGV[22]   the soonest a new task is first polled, ms (the team is indexed as due by then)
-- Returns    {"ok", budget_remaining (-1: no budget), rate_remaining, rate_full_in_ms, burst,
--             window_ms, index_at, budget (-1: none), period}
--            {"budget", remaining, budget, index_at, period}
--            (period: the budget period this script enforced, "day", "week", "month" or
--            "total": what an answer says is what was decided, never a replica's cached team)
--            {"rate", retry_after_ms, burst, window_ms}
--            {"in_flight", in_flight, max_in_flight, rate_remaining, rate_full_in_ms, burst,
--             window_ms} | {"no_team"}
--            {"replay", task id} | {"conflict", task id or ""} | {"remembered", error JSON}
--            {"in_progress", retry_after_ms}
--            {"resolve", reservation id, create JSON, index_at}
--            {"too_late", reservation id, create JSON}: lost, and too old to resend safely
--            {"cancelled"}: cancelled before it ran | {"revoked"}: the key is revoked
--            {"key_expired", expired_ms}: the key expired (by Redis's clock, not a replica's)
--            {"no_team"}: the team was deleted (or its id is another team's now)
--            {"model"}: the team may no longer use the model
--            {"token_cap", remaining, cap}: past the browser token's own credit cap
--            {"key_budget", remaining, budget, period}: past the key's own credit budget
--            {"subject_rate", retry_after_ms, burst, window_ms}: past the subject's rate
--            (index_at: when the team must be indexed as due, -1 if it is: _schedule.lua)
if redis.call('EXISTS', KEYS[10]) == 1 then return {'cancelled'} end
-- Period hashes other than the total expire (ARGV[5]) after the first create of their period:
-- a hash is given its lifetime once, when it has none. (TTL only reads; an EXPIRE is a write,
-- replicated: ~2 us each, and a create made six.)
local function expire_once(hash)
  if redis.call('TTL', hash) < 0 then redis.call('EXPIRE', hash, ARGV[5]) end
end
local function keep(hash) if hash ~= KEYS[7] then expire_once(hash) end end
local function refused(reason)
  for i = 4, 7 do
    redis.call('HINCRBY', KEYS[i], 'refused:' .. reason, 1)
    keep(KEYS[i])
  end
end
-- The caller's standing, as of now: an admin's revoke, delete or model change is answered only
-- once written here, so from that moment no paid create starts, on any replica.
-- The team's standing and policy, in one read.
local standing = redis.call('HMGET', KEYS[1], 'generation', 'allowed_models', 'budget_credits',
  'budget_period', 'rate_limit_per_minute', 'burst', 'max_in_flight')
if standing[1] == false and redis.call('EXISTS', KEYS[1]) == 0 then return {'no_team'} end
if (standing[1] or '') ~= ARGV[14] then return {'no_team'} end
if redis.call('SISMEMBER', KEYS[11], ARGV[13]) == 0 then return {'revoked'} end
if ARGV[17] ~= '' then
  -- A browser token: revoked if issued at or before its team's or its subject's "not before".
  local issued = tonumber(ARGV[18]) / 1000
  local team_nb = tonumber(redis.call('ZSCORE', KEYS[13], '*') or '')
  local subject_nb = tonumber(redis.call('ZSCORE', KEYS[13], ARGV[17]) or '')
  if (team_nb and issued <= team_nb) or (subject_nb and issued <= subject_nb) then
    return {'revoked'}
  end
end
if standing[2] and standing[2] ~= '' and standing[2] ~= 'null' then
  local allowed = false
  for _, model in ipairs(cjson.decode(standing[2])) do
    if model == ARGV[15] then allowed = true end
  end
  if not allowed then
    refused('model')
    return {'model'}
  end
end
local now, credits = clock_us(ARGV[1]), tonumber(ARGV[2])
local now_ms = math.floor(now / 1000)
local key_expires = tonumber(redis.call('HGET', KEYS[18], ARGV[13]) or '')
if key_expires and now_ms >= key_expires then
  refused('key_expired')
  return {'key_expired', key_expires}
end
-- Decoded before anything is written: a script that fails half-way does not roll back.
local new_create = cjson.decode(ARGV[9])

if ARGV[6] ~= '' then
  local claim = redis.call('HMGET', KEYS[8], 'fp', 'state', 'task', 'error', 'res', 'expires')
  if claim[1] and tonumber(claim[6]) > now_ms then
    if claim[1] ~= ARGV[7] then return {'conflict', claim[3] or ''} end
    if claim[2] == 'done' then return {'replay', claim[3]} end
    if claim[2] == 'error' then return {'remembered', claim[4]} end
    local pending = redis.call('HGET', KEYS[9], claim[5])
    if pending then
      -- Unless someone is forwarding it, its answer was lost or its gateway died: this request
      -- takes it over, and will resend it with the same upstream key.
      local create = cjson.decode(pending)
      local outcome, detail = take_lease(KEYS[9], claim[5], create, ARGV[12], tonumber(ARGV[10]),
        tonumber(ARGV[11]), now_ms)
      if outcome == 'held' then return {'in_progress', detail} end
      if outcome == 'too_late' then return {'too_late', claim[5], pending} end
      return {'resolve', claim[5], detail, schedule(KEYS[16], create.lease_until_ms, now_ms)}
    end
    -- A pending claim whose create is gone was abandoned: start afresh below.
  end
end

local policy = {standing[3], standing[4], standing[5], standing[6], standing[7]}
local rate = tonumber(policy[3])
if not rate then return {'no_team'} end
local budget = tonumber(policy[1])
local burst = tonumber(policy[4]) or rate
local max_in_flight = tonumber(policy[5])

local cap = tonumber(ARGV[20])
if cap >= 0 then
  local held = redis.call('HMGET', KEYS[15], 'spent', 'reserved')
  local token_used = (tonumber(held[1]) or 0) + (tonumber(held[2]) or 0)
  if token_used + credits > cap then
    refused('token_cap')
    return {'token_cap', cap - token_used, cap}
  end
end

local key_budget = redis.call('HGET', KEYS[19], ARGV[13])
if key_budget then
  local key_credits, key_period = string.match(key_budget, '^(%d+)|(%a+)$')
  key_credits, key_period = tonumber(key_credits), PERIOD_OF[key_period] or 'month'
  local spend = redis.call('HMGET', KEYS[19 + PERIOD_INDEX[key_period]], 'spent', 'reserved')
  local key_used = (tonumber(spend[1]) or 0) + (tonumber(spend[2]) or 0)
  if key_credits and key_used + credits > key_credits then
    refused('key_budget')
    return {'key_budget', key_credits - key_used, key_credits, key_period}
  end
end

local used = 0
local period = PERIOD_OF[policy[2]] or 'month'
local budget_hash = KEYS[3 + PERIOD_INDEX[period]]
if budget then
  local spend = redis.call('HMGET', budget_hash, 'spent', 'reserved')
  used = (tonumber(spend[1]) or 0) + (tonumber(spend[2]) or 0)
  if used + credits > budget then
    refused('budget')
    local index_at = -1
    if ARGV[16] ~= '' then
      local stamps = {}
      for part in string.gmatch(ARGV[4], '([^|]+)') do stamps[#stamps + 1] = part end
      index_at = alert_once(budget_hash, budget .. ':refused', KEYS[17], KEYS[16], now_ms,
        {'kind', 'refused', 'budget', budget, 'used', used, 'needed', credits,
         'period', period, 'period_id', stamps[PERIOD_INDEX[period]] or 'total'})
    end
    return {'budget', budget - used, budget, index_at, period}
  end
end

-- The team's bucket: one create every `interval`; up to `burst` at once.
local team_rate = rate_take(KEYS[2], rate, burst, now)
local interval, window, tat, new_tat = team_rate.interval, team_rate.window, team_rate.tat,
  team_rate.new_tat
if team_rate.wait_ms then
  refused('rate')
  return {'rate', team_rate.wait_ms, burst, math.floor(window / 1000)}
end
-- The subject's own bucket (per_subject_rate_limit_per_minute, its burst the same), checked
-- before anything is written, so a refusal by either consumes neither.
local subject_rate = tonumber(ARGV[19])
local subject_bucket = nil
if ARGV[17] ~= '' and subject_rate > 0 then
  subject_bucket = rate_take(KEYS[14], subject_rate, subject_rate, now)
  if subject_bucket.wait_ms then
    refused('subject_rate')
    return {'subject_rate', subject_bucket.wait_ms, subject_rate,
      math.floor(subject_bucket.window / 1000)}
  end
end

local in_flight = redis.call('HLEN', KEYS[3])
if max_in_flight and in_flight >= max_in_flight then
  -- The rate bucket as it stands (this refusal consumes nothing), for the RateLimit headers.
  refused('in_flight')
  return {'in_flight', in_flight, max_in_flight, math.floor((window - (tat - now)) / interval),
    math.ceil((tat - now) / 1000), burst, math.floor(window / 1000)}
end

rate_keep(team_rate)
if subject_bucket then rate_keep(subject_bucket) end
redis.call('HSET', KEYS[3], ARGV[3],
  reservation_entry(credits, ARGV[4], now_ms, ARGV[15], ARGV[21], false, ARGV[13]))
local key_periods = {KEYS[20], KEYS[21], KEYS[22], KEYS[23]}
move(books({KEYS[4], KEYS[5], KEYS[6], KEYS[7]}, ARGV[21], KEYS[15], ARGV[13], key_periods),
  KEYS[12], 'reserve', ARGV[3], '', ARGV[15], credits, 0)
for i = 4, 6 do keep(KEYS[i]) end
if ARGV[13] ~= '' then
  for i = 1, 3 do expire_once(key_periods[i]) end
end
local remaining = -1
if budget then remaining = budget - used - credits end
new_create.created_ms = now_ms
lease_to(new_create, ARGV[12], tonumber(ARGV[10]), now_ms)
redis.call('HSET', KEYS[9], ARGV[3], cjson.encode(new_create))
if ARGV[6] ~= '' then
  local lifetime = tonumber(ARGV[8])
  redis.call('DEL', KEYS[8])
  redis.call('HSET', KEYS[8], 'fp', ARGV[7], 'state', 'pending', 'res', ARGV[3],
    'expires', whole(now_ms + lifetime))
  redis.call('PEXPIRE', KEYS[8], whole(lifetime + 60000))
end
-- The team is looked at by the time its task's first poll could be due (ARGV[22]); should the
-- create's holder die, that look finds it, and the next one comes when its lease ends.
local index_at = schedule(KEYS[16], now_ms + tonumber(ARGV[22]), now_ms)
return {'ok', remaining, math.floor((window - (new_tat - now)) / interval),
  math.ceil((new_tat - now) / 1000), burst, math.floor(window / 1000), index_at, budget or -1,
  period}
