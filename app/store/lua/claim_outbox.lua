-- Lease the team's outbox entries that are due (never sent, or due again after a failure, or
-- left by a replica that died sending them), so that one replica at a time sends each: an
-- entry leased is due again when its lease ends. Entries gone (delivered meanwhile) are tidied.
-- KEYS[1]  the team's outbox (stream)    KEYS[2]  its due times (entry id -> ms)
-- KEYS[3]  its attempts (entry id -> "attempts|next attempt, ms")
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- ARGV[2]  how long a lease lasts, ms     ARGV[3]  the most entries to lease
-- Returns  {{entry id, attempts so far, {field, value, ...}}, ...}
local now_ms = math.floor(clock_us(ARGV[1]) / 1000)
local until_ms = string.format('%.0f', now_ms + tonumber(ARGV[2]))
local leased = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms, 'LIMIT', 0,
    tonumber(ARGV[3]))) do
  local rows = redis.call('XRANGE', KEYS[1], id, id)
  if #rows == 0 then
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  else
    redis.call('ZADD', KEYS[2], until_ms, id)
    local tried = redis.call('HGET', KEYS[3], id) or '0'
    leased[#leased + 1] = {id, tonumber(string.match(tried, '^(%d+)')) or 0, rows[1][2]}
  end
end
return leased
