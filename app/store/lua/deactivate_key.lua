-- Take a key out of its team's active set: from then on no admission accepts it (admit.lua
-- reads the set). A script, not a plain SREM, so that it is acknowledged by a replica like
-- every script (store/replicated.py) and a failover cannot put the key back.
-- KEYS[1]  the team's active keys (a set of key ids)
-- ARGV[1]  the key id
-- Returns  1 if it was in the set, 0 if not
return redis.call('SREM', KEYS[1], ARGV[1])
