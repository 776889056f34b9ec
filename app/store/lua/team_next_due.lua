-- When a team next has work, read after a settler worked it (one round trip, the team's slot):
-- the earliest of its tasks' next polls, the lease ends of its pending creates (a create whose
-- holder died is resent or given up then), its undelivered events' next attempts, and when its
-- first copy of a result is to be deleted. Sets the
-- team's schedule marker (_schedule.lua) to it, or deletes the marker when the team has nothing,
-- so a script adding work after this read indexes the team itself.
-- KEYS[1]  the team's settle queue (task id -> next poll, ms)
-- KEYS[2]  the team's pending creates (reservation id -> create JSON with lease_until_ms)
-- KEYS[3]  the team's outbox (stream)      KEYS[4]  its attempts (entry id -> "n|next_ms")
-- KEYS[5]  the team's schedule marker
-- KEYS[6]  the team's kept copies of results ("sha256|bytes" -> until, ms)
-- KEYS[7]  the outbox's due times (entry id -> ms: _events.lua)
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)
-- Returns  the next due time, ms; -1 when the team has nothing left to do
local OUTBOX_LOOKAHEAD = 100  -- entries looked at for a due time an older version left out
local now_ms = math.floor(clock_us(ARGV[1]) / 1000)
local next_ms = nil
local function earlier(at)
  if at and (next_ms == nil or at < next_ms) then next_ms = at end
end
for _, queue in ipairs({KEYS[1], KEYS[6]}) do
  local first = redis.call('ZRANGE', queue, 0, 0, 'WITHSCORES')
  if first[2] then earlier(tonumber(first[2])) end
end
for _, create in ipairs(redis.call('HVALS', KEYS[2])) do
  earlier(tonumber(cjson.decode(create).lease_until_ms) or now_ms)
end
-- An event is due at its score in the outbox's due times. Entries an older version wrote have
-- none: they are given theirs (never tried: now; tried: their next attempt). Attempts of
-- events gone (delivered by another replica meanwhile) are dropped, never waited on.
local events = {}
for _, entry in ipairs(redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', OUTBOX_LOOKAHEAD)) do
  events[entry[1]] = true
  if not redis.call('ZSCORE', KEYS[7], entry[1]) then
    local tried = redis.call('HGET', KEYS[4], entry[1])
    redis.call('ZADD', KEYS[7], tried and tonumber(string.match(tried, '|(%d+)$')) or now_ms,
      entry[1])
  end
end
if redis.call('XLEN', KEYS[3]) <= OUTBOX_LOOKAHEAD then
  for _, id in ipairs(redis.call('HKEYS', KEYS[4])) do
    if not events[id] then redis.call('HDEL', KEYS[4], id) end
  end
end
local first_event = redis.call('ZRANGE', KEYS[7], 0, 0, 'WITHSCORES')
if first_event[2] then earlier(tonumber(first_event[2])) end
if next_ms == nil then
  redis.call('DEL', KEYS[5])
  return -1
end
if next_ms < now_ms then next_ms = now_ms end
redis.call('SET', KEYS[5], string.format('%.0f', next_ms), 'PX', SCHEDULE_MARKER_TTL_MS)
return next_ms
