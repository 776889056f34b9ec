-- Revoke browser tokens: those of one subject (or "*": every subject of the team) issued up to
-- a time stop working. The not-before time only moves forward, so a repeat changes nothing. A
-- team holds at most ARGV[5] revocations at once (each lives a token's longest life): a new
-- subject's past that is refused; the team-wide one always goes in.
-- KEYS[1]  the team's browser-token revocations (sorted set: subject or "*" -> not before, s)
-- ARGV[1]  subject, or "*"
-- ARGV[2]  not before, seconds (the revocation's time)
-- ARGV[3]  older revocations than this (s) are pruned: no token lives that long
-- ARGV[4]  the set's TTL, seconds (a token's longest life and a margin)
-- ARGV[5]  the most revocations the set may hold
-- Returns  1 stored, 0 refused (full)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if ARGV[1] ~= '*' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[5])
    and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
