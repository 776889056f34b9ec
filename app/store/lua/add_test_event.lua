-- Write a test event for one webhook (POST /api/v1/webhooks/{id}/test), due now, as _events.lua
-- writes a task's: at most one a webhook per interval, and never past its backlog's cap, so no
-- caller can grow the outbox, or aim the gateway at a receiver, faster than that.
-- KEYS[1]  the team's outbox     KEYS[2]  its due times     KEYS[3]  its backlog per webhook
-- KEYS[4]  the webhook's last test (a marker that lasts the interval)
-- KEYS[5]  the team's schedule marker (_schedule.lua)
-- ARGV[1]  the webhook's id     ARGV[2]  the event's id
-- ARGV[3]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[4]  the least time between two tests of a webhook, ms
-- Returns  {outcome, index_at}: 1 written, -1 too many events waiting, -2 tested too recently
local now_ms = math.floor(clock_us(ARGV[3]) / 1000)
local last = tonumber(redis.call('GET', KEYS[4]) or '')
if last and now_ms - last < tonumber(ARGV[4]) then return {-2, -1} end
redis.call('SET', KEYS[4], now_ms, 'PX', tonumber(ARGV[4]))
if (tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '') or 0) >= WEBHOOK_MAX_BACKLOG then
  return {-1, -1}
end
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
local id = redis.call('XADD', KEYS[1], '*', 'kind', 'webhook', 'webhook', ARGV[1],
  'type', 'webhook.test', 'event', ARGV[2], 'at', now_ms)
redis.call('ZADD', KEYS[2], now_ms, id)
return {1, schedule(KEYS[5], now_ms, now_ms)}
