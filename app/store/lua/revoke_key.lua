-- Mark an API key revoked. The record is kept, so using the key answers api_key_revoked; a
-- repeat keeps the first revocation's time (a retry after an unknown outcome changes nothing).
-- Its team's active set is another script's (deactivate_key.lua): on Redis Cluster the record
-- is not in the team's slot.
-- KEYS[1]  the key's record hash (gw:key:<id>)
-- ARGV[1]  when (ISO timestamp)
-- Returns  the record after the change, as field, value, field, value, … (empty: no such key)
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('HSETNX', KEYS[1], 'revoked_at', ARGV[1])
return redis.call('HGETALL', KEYS[1])
