-- Revoke browser tokens: those of one subject (or "*": every subject of the team) issued up to
-- a time stop working. The not-before time only moves forward, so a repeat changes nothing.
-- KEYS[1]  the team's browser-token revocations (sorted set: subject or "*" -> not before, s)
-- ARGV[1]  subject, or "*"
-- ARGV[2]  not before, seconds (the revocation's time)
-- ARGV[3]  older revocations than this (s) are pruned: no token lives that long
-- ARGV[4]  the set's TTL, seconds (a token's longest life and a margin)
-- Returns  1
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
