-- Prepended to every script (store/scripts.py): the one rate limit, GCRA. A bucket holds
-- `burst` and refills one every 60/`per_minute` s; its state in Redis is the theoretical
-- arrival time (TAT, microseconds). `rate_take` decides without writing (a refusal by any
-- bucket of a script consumes none of them); `rate_keep` writes what was taken.
-- rate_take returns the bucket: interval and window (microseconds), tat (before this one),
-- new_tat (after it), and wait_ms (set only when refused: the wait until one more fits).
local function rate_take(key, per_minute, burst, now)
  local interval = math.floor(60000000 / per_minute)
  local tat = tonumber(redis.call('GET', key) or '') or now
  if tat < now then tat = now end
  local bucket = {key = key, interval = interval, window = interval * burst, tat = tat,
    new_tat = tat + interval}
  if bucket.new_tat - now > bucket.window then
    bucket.wait_ms = math.ceil((bucket.new_tat - bucket.window - now) / 1000)
  end
  return bucket
end

local function rate_keep(bucket)
  redis.call('SET', bucket.key, whole(bucket.new_tat), 'PX',
    whole(math.ceil(bucket.window / 1000) + 1000))
end
