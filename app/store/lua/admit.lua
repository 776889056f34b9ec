-- Admit one create, or refuse it: credit budget, rate limit (GCRA with burst) and in-flight cap
-- decided together, atomically. Nothing is written unless every check passes, so a refusal
-- consumes no rate, no slot and no credit.
-- KEYS[1]    team hash (policy: budget_credits, budget_period, rate_limit_per_minute, burst,
--            max_in_flight; read here so an admin change applies to the very next create)
-- KEYS[2]    rate limiter state: the GCRA theoretical arrival time, in microseconds
-- KEYS[3]    reservations hash: reservation or task id -> "credits|stamps|created_ms"
-- KEYS[4..7] spend hashes of the current day, week, month and total (fields: spent, reserved)
-- ARGV[1]    now, microseconds since the epoch
-- ARGV[2]    credits to reserve
-- ARGV[3]    reservation id
-- ARGV[4]    period stamps "day|week|month" (stored with the reservation)
-- ARGV[5]    TTL of the day/week/month spend hashes, seconds
-- Returns    {"ok", budget_remaining (-1: no budget), rate_remaining, rate_full_in_ms, burst,
--             window_ms}
--            {"budget", remaining, budget} | {"rate", retry_after_ms, burst, window_ms}
--            {"in_flight", in_flight, max_in_flight} | {"no_team"}
local policy = redis.call('HMGET', KEYS[1], 'budget_credits', 'budget_period',
  'rate_limit_per_minute', 'burst', 'max_in_flight')
local rate = tonumber(policy[3])
if not rate then return {'no_team'} end
local now, credits = tonumber(ARGV[1]), tonumber(ARGV[2])
local budget = tonumber(policy[1])
local burst = tonumber(policy[4]) or rate
local max_in_flight = tonumber(policy[5])

local used = 0
if budget then
  local index = ({day = 4, week = 5, month = 6, total = 7})[policy[2]] or 6
  local spend = redis.call('HMGET', KEYS[index], 'spent', 'reserved')
  used = (tonumber(spend[1]) or 0) + (tonumber(spend[2]) or 0)
  if used + credits > budget then return {'budget', budget - used, budget} end
end

-- GCRA: one create every `interval`; up to `burst` at once.
local interval = math.floor(60000000 / rate)
local window = interval * burst
local tat = tonumber(redis.call('GET', KEYS[2]) or '') or now
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > window then
  return {'rate', math.ceil((new_tat - window - now) / 1000), burst, math.floor(window / 1000)}
end

local in_flight = redis.call('HLEN', KEYS[3])
if max_in_flight and in_flight >= max_in_flight then
  return {'in_flight', in_flight, max_in_flight}
end

redis.call('SET', KEYS[2], string.format('%.0f', new_tat), 'PX', math.ceil(window / 1000) + 1000)
redis.call('HSET', KEYS[3], ARGV[3], ARGV[2] .. '|' .. ARGV[4] .. '|' .. math.floor(now / 1000))
for i = 4, 7 do
  redis.call('HINCRBY', KEYS[i], 'reserved', credits)
  if i < 7 then redis.call('EXPIRE', KEYS[i], ARGV[5]) end
end
local remaining = -1
if budget then remaining = budget - used - credits end
return {'ok', remaining, math.floor((window - (new_tat - now)) / interval),
  math.ceil((new_tat - now) / 1000), burst, math.floor(window / 1000)}
