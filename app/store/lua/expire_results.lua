-- Take the team's copies whose time has come off its books, for the caller to delete: taken
-- first, so that a copy is never counted once its object may be gone (a process that dies
-- before deleting leaves an object no one counts, never a count with no object).
-- KEYS[1]  the team's kept copies (sorted set: "sha256|bytes" -> until, ms)
-- KEYS[2]  the team's results usage hash (bytes, objects)
-- ARGV[1]  time: "" for Redis's own, or a fake clock's (_clock.lua)     ARGV[2]  at most this many
-- Returns  the sha256 of each copy taken
local now_ms = math.floor(clock_us(ARGV[1]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[2]))
local taken = {}
for _, member in ipairs(due) do
  local sha, size = string.match(member, '^([^|]+)|(%d+)$')
  redis.call('ZREM', KEYS[1], member)
  redis.call('HINCRBY', KEYS[2], 'bytes', -tonumber(size))
  redis.call('HINCRBY', KEYS[2], 'objects', -1)
  taken[#taken + 1] = sha
end
return taken
